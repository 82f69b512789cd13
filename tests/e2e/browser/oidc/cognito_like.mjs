// A certified OpenID provider (the `oidc-provider` package, OpenID Certified) configured as the portal's
// Cognito user pool and its managed login are: Cognito's paths (/oauth2/authorize, /oauth2/token,
// /.well-known/jwks.json, /logout), one public app client (no secret) with the code flow and PKCE S256
// only, the `openid email` scopes, ID tokens with Cognito's claims (`cognito:groups`, `custom:account_id`,
// `email`, `email_verified`, `token_use`), single-use codes, refresh tokens, no consent screen, and a
// /logout that takes Cognito's `client_id` and `logout_uri` and ends the provider's session.
// Run by tests/e2e/browser/test_portal_provider.py; configuration from the environment:
//   OIDC_MODULE  the installed package's entry point   OIDC_PORT  where to listen
//   OIDC_CONFIG  a JSON file: {client_id, callback, signed_out, jwk (the private signing key), users}
//   users: {login: {claims..., code_seconds?}}; a login not listed cannot sign in.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_MODULE).href);
const config = JSON.parse(readFileSync(process.env.OIDC_CONFIG, 'utf8'));
const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const users = config.users;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    token_endpoint_auth_method: 'none', // Cognito's app client has no secret (GenerateSecret: false)
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [config.callback],
    post_logout_redirect_uris: [config.signed_out],
  }],
  jwks: { keys: [config.jwk] },
  routes: {
    authorization: '/oauth2/authorize',
    token: '/oauth2/token',
    jwks: '/.well-known/jwks.json',
    userinfo: '/oauth2/userInfo',
    revocation: '/oauth2/revoke',
    end_session: '/session/end',
  },
  scopes: ['openid', 'email'],
  claims: {
    openid: ['sub', 'cognito:groups', 'custom:account_id', 'token_use'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false, // Cognito puts the user's claims in the ID token itself
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true, logoutSource } },
  cookies: { keys: ['patchcast-test-provider'] },
  ttl: {
    AuthorizationCode: (ctx, code) => users[code.accountId]?.code_seconds ?? 60,
    IdToken: 3600, // IdTokenValidity: 60 minutes
    RefreshToken: 30 * 86400,
    AccessToken: 3600,
    Grant: 30 * 86400,
    Interaction: 3600,
    Session: 86400,
  },
  issueRefreshToken: async () => true, // Cognito returns one with every code exchange
  loadExistingGrant, // no consent screen: the app client is the user pool's own
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    const { code_seconds: _, ...claims } = user;
    return { accountId: id, claims: async () => ({ sub: id, token_use: 'id', ...claims }) };
  },
});

async function loadExistingGrant(ctx) {
  const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (grantId) return ctx.oidc.provider.Grant.find(grantId);
  const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
  grant.addOIDCScope('openid email');
  grant.addOIDCClaims(['cognito:groups', 'custom:account_id', 'email', 'email_verified', 'token_use']);
  await grant.save();
  return grant;
}

// Cognito's /logout signs out at once: the provider's confirmation form submits itself.
async function logoutSource(ctx, form) {
  ctx.body = `<!doctype html><title>Signing out</title>${form}<script>
    const f = document.getElementById('op.logoutForm'); const i = document.createElement('input');
    i.type = 'hidden'; i.name = 'logout'; i.value = 'yes'; f.appendChild(i); f.submit();</script>`;
}

const handler = provider.callback();
createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/logout') { // Cognito's logout endpoint: client_id and logout_uri, both checked
    const clientId = url.searchParams.get('client_id');
    const logoutUri = url.searchParams.get('logout_uri');
    if (clientId !== config.client_id || logoutUri !== config.signed_out) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('invalid logout request');
      return;
    }
    const to = new URL('/session/end', issuer);
    to.search = new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: logoutUri }).toString();
    res.writeHead(302, { Location: to.href }).end();
    return;
  }
  handler(req, res);
}).listen(port, '127.0.0.1', () => console.log(`provider ready on ${issuer}`));
