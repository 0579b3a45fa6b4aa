// node-oidc-provider beside idp in the benchmark (scripts/bench/bench.py --compare node).
//
// bench.py copies this file and package.json (oidc-provider, an exact version) into
// target/bench/node/, installs the package there with npm once, and starts
//   node provider.mjs        (BENCH_PORT, BENCH_SECRET, BENCH_REDIRECT in the environment)
// pinned like idp. It listens on 127.0.0.1 only and stops on SIGTERM.
//
// The provider is configured like the benchmark's idp tenant: three first-party clients whose
// ID tokens are ES256, EdDSA and RS256 (client_secret_basic, authorization_code and
// refresh_token, no consent), one client_credentials client, refresh tokens rotated at every
// use (idp rotates them too), access tokens of 3600 s. Its default in-memory adapter keeps
// everything; only its capacity is raised (below) so that the codes made before a load and the
// refresh chains are not evicted during it. Differences that remain, for the table's reader:
// - the access token of a code exchange or refresh is opaque (node's userinfo accepts no token
//   with an audience, and a JWT access token needs one), so userinfo and introspection look it
//   up in memory where idp verifies an ES256 JWT (cached) and reads its grant from the
//   database; a code exchange signs one JWT in node (the ID token), two in idp;
// - the client_credentials token is an ES256 JWT in both (node: a resource indicator with
//   accessTokenFormat "jwt"; it still stores nothing for it);
// - codes are made by a bench-only route (POST /bench/codes, below) that saves a grant and an
//   authorization code through node's own models, as its authorization endpoint would after a
//   login; the exchange and the refresh themselves go through node's real /token. Before each
//   exchange or refresh load the storage is emptied (POST /bench/forget), where idp's database
//   keeps every earlier load's rows.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const port = Number(process.env.BENCH_PORT);
const secret = process.env.BENCH_SECRET;
const redirect = process.env.BENCH_REDIRECT;
const issuer = `http://127.0.0.1:${port}`;
const ACCOUNT = 'bench-resident';
const RESOURCE = 'urn:bench:api';

// The default adapter keeps an LRU of 1,000 entries (2,000 at most): codes made beforehand for a
// load of several seconds would be evicted before their turn. The same adapter class over a
// larger LRU (what the provider builds by default, createMemoryAdapter, with another size; the
// clock tolerance is the provider's default, 15 s).
const storage = new LRU({ maxSize: 4_000_000 });
const adapter = (model) => new MemoryAdapter(model, storage, 15);

function signingKey(kid, type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const keys = [
  // The first key of each type signs by default; ES256 first, as idp's access tokens.
  { ...signingKey('es256', 'ec', { namedCurve: 'P-256' }), alg: 'ES256' },
  { ...signingKey('eddsa', 'ed25519'), alg: 'EdDSA' },
  // idp's RS256 key is 2048 bits too (idp/crypto/keys.rs).
  { ...signingKey('rs256', 'rsa', { modulusLength: 2048 }), alg: 'RS256' },
];

const firstParty = (clientId, alg) => ({
  client_id: clientId,
  client_secret: secret,
  redirect_uris: [redirect],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
});

const configuration = {
  clients: [
    firstParty('bench-es256', 'ES256'),
    firstParty('bench-eddsa', 'EdDSA'),
    firstParty('bench-rs256', 'RS256'),
    {
      client_id: 'bench-cc',
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  adapter,
  jwks: { keys },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email', 'offline_access', 'api'],
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: 'bench0@bench.test', email_verified: true };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Only client_credentials asks for the API (a JWT access token); a code's or refresh's
      // access token stays the userinfo one (opaque).
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf;
        return ctx.oidc.params?.grant_type === 'client_credentials' ? RESOURCE : undefined;
      },
      async useGrantedResource() {
        return false;
      },
      async getResourceServerInfo() {
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  // idp gives a first-party client a refresh token without offline_access and rotates it at
  // every use.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
  pkce: { required: () => false },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    ClientCredentials: 3600,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, error) => console.error('server_error', error));

// POST /bench/codes?client=ID&n=N: N authorization codes for the client, one grant each (as N
// separate authorizations), one code per line. Loopback only, like the whole server.
async function makeCodes(clientId, n) {
  const client = await provider.Client.find(clientId);
  if (!client) throw new Error(`no client ${clientId}`);
  const authTime = Math.floor(Date.now() / 1000);
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId });
    grant.addOIDCScope('openid email');
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId: ACCOUNT,
      authTime,
      client,
      expiresWithSession: false,
      grantId,
      nonce: `n${i}`,
      redirectUri: redirect,
      scope: 'openid email',
    });
    codes.push(await code.save());
  }
  return codes;
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  // POST /bench/forget: empties the adapter's storage between loads (the codes a load left
  // unused, the tokens it issued), so that each load starts from the same memory. Clients are
  // static (configuration), not in the adapter.
  if (req.method === 'POST' && req.url === '/bench/forget') {
    storage.clear();
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/bench/codes?')) {
    const query = new URL(req.url, issuer).searchParams;
    makeCodes(query.get('client'), Number(query.get('n')))
      .then((codes) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(codes.map((c) => `${c}\n`).join(''));
      })
      .catch((error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error.stack));
      });
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`node-oidc-provider at ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
