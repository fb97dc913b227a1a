// The reference peer for bench/run.sh: node-oidc-provider configured like Tessera's bench realm.
// One confidential client (client_secret_basic) with client_credentials, JWT (ES256) access
// tokens through resource indicators, introspection on. Loopback only.
//
//   PORT=9090 BENCH_CLIENT_SECRET=… node server.mjs
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 9090);
const secret = process.env.BENCH_CLIENT_SECRET;
if (!secret) {
  console.error('BENCH_CLIENT_SECRET is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// A fresh ES256 signing key at every start, as Tessera creates fresh keys for the run.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'jobs:read',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ['jobs:read'],
  cookies: { keys: [randomUUID()] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:tessera:bench',
      useGrantedResource: () => true,
      // oidc-provider refuses to introspect structured (JWT) tokens ("unsupported_token_type"),
      // so the introspection figure uses a token for a second resource with opaque tokens
      // (looked up in the in-memory adapter). Every other token is a JWT signed with ES256.
      getResourceServerInfo: (ctx, resourceIndicator) =>
        resourceIndicator === 'urn:tessera:opaque'
          ? { scope: 'jobs:read', audience: resourceIndicator, accessTokenTTL: 300, accessTokenFormat: 'opaque' }
          : {
              scope: 'jobs:read',
              audience: 'urn:tessera:bench',
              accessTokenTTL: 300,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'ES256' } },
            },
    },
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
