// A real OpenID Connect provider for zescrow's tests: panva's oidc-provider with
// its development login screen (any login name, any password), one confidential
// client, accounts made up on the fly: sub = the login name, email = NAME@example.test
// (a comma in NAME as a dot: one plain address),
// and groups = what follows "+" in the login name, comma-separated ("carol+helpdesk"
// is in group helpdesk; "dave" in none).
//
//   node provider.mjs [--hostile] PORT REDIRECT_URI [REDIRECT_URI ...]
// prints "ready ISSUER" when it listens.
//
// --hostile: the same real provider, told at run time to misbehave as a
// hostile or broken provider would (PUT /hostile with a JSON body; {} is
// honest again):
//   "issuer": URL         claim another provider's issuer, in discovery and as the
//                         ID token's iss (the tokens are still signed with our key)
//   "ignore_prompt": true ignore prompt=login and max_age: a remembered login passes
//   "id_token": {claim: value, ...}  set these claims in the ID token (null: remove),
//                         re-signed with our own key: wrong iss/aud/nonce, expired,
//                         an old or missing auth_time
//   "claims": {claim: value, ...}    the account's claims (userinfo) made these
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const hostile = args[0] === '--hostile';
const [port, ...redirectUris] = hostile ? args.slice(1) : args;
const issuer = `http://127.0.0.1:${port}`;
let mode = {};

// Our own signing key (oidc-provider would make one too): a hostile
// provider re-signs the ID tokens it alters, as a real one would.
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'zescrow-test', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'zescrow-test',
    client_secret: 'zescrow-test-secret',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => false },
  jwks: { keys: [jwk] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const groups = id.includes('+') ? id.slice(id.indexOf('+') + 1).split(',') : [];
        const claims = { sub: id, email: `${id.replaceAll(',', '.')}@example.test`, email_verified: true, name: id, groups };
        return { ...claims, ...(mode.claims || {}) };
      },
    };
  },
  cookies: { keys: ['zescrow-test-cookie-key'] },
});
provider.proxy = false;

if (hostile) {
  provider.use(async (ctx, next) => {
    if (ctx.path === '/hostile' && ctx.method === 'PUT') {
      mode = JSON.parse(await readBody(ctx.req) || '{}');
      ctx.body = mode;
      return;
    }
    if (ctx.path === '/auth' && mode.ignore_prompt) {
      const query = { ...ctx.query };
      delete query.prompt;
      delete query.max_age;
      ctx.query = query;
    }
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && mode.issuer) {
      ctx.body = { ...ctx.body, issuer: mode.issuer };
    }
    if (ctx.path === '/token' && ctx.body?.id_token && (mode.issuer || mode.id_token)) {
      ctx.body = { ...ctx.body, id_token: await alter(ctx.body.id_token) };
    }
  });
}

async function alter(idToken) {
  const payload = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url'));
  if (mode.issuer) payload.iss = mode.issuer;
  for (const [claim, value] of Object.entries(mode.id_token || {})) {
    if (value === null) delete payload[claim];
    else payload[claim] = value;
  }
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .sign(privateKey);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
