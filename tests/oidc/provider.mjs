// A real OpenID Connect provider for zescrow's tests: panva's oidc-provider with
// its development login screen (any login name, any password), one confidential
// client, accounts made up on the fly: sub = the login name, email = NAME@example.test.
//
//   node provider.mjs PORT REDIRECT_URI [REDIRECT_URI ...]
// prints "ready ISSUER" when it listens.
import Provider from 'oidc-provider';

const [port, ...redirectUris] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'zescrow-test',
    client_secret: 'zescrow-test-secret',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => false },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  cookies: { keys: ['zescrow-test-cookie-key'] },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
