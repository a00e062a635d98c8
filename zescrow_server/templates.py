"""Jinja2 pages, whichever Starlette renders them.

Starlette 0.29 changed TemplateResponse to take the request first; Debian
12 ships 0.26, which takes the template name first and the request inside
the context. The pages call `TemplateResponse(request, name, context)` and
this picks the form the installed Starlette understands.
"""

import inspect

from starlette.templating import Jinja2Templates


class Templates:
    def __init__(self, directory):
        self.jinja = Jinja2Templates(directory=directory)
        params = list(inspect.signature(self.jinja.TemplateResponse).parameters)
        self.request_first = bool(params) and params[0] == "request"

    def TemplateResponse(self, request, name, context, status_code=200):  # noqa: N802
        if self.request_first:
            return self.jinja.TemplateResponse(request, name, context, status_code=status_code)
        return self.jinja.TemplateResponse(name, dict(context, request=request),
                                           status_code=status_code)
