"""The server's errors: JSON `{"error": code, "message": ...}`, never a stack trace."""


class ApiError(Exception):
    status = 400
    code = "bad-request"

    def __init__(self, message, status=None, code=None, headers=None):
        super().__init__(message)
        self.message = message
        self.status = status or self.status
        self.code = code or self.code
        self.headers = headers or {}

    def as_json(self):
        return {"error": self.code, "message": self.message}


class NotFound(ApiError):
    status, code = 404, "not-found"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"
