'use strict';
// PostGraphile 4 in library mode for the dpor-gateway benchmark (started by bench/postgraphile/server.py).
//
//   node server.js --install DIR --variant no_auth|jwt_rls --port N --workers N
//   env: DPOR_BENCH_PG_DATABASE_URL, DPOR_BENCH_PG_POOL_SIZE, and for jwt_rls DPOR_BENCH_PG_JWKS_FILE,
//        DPOR_BENCH_PG_ISSUER, DPOR_BENCH_PG_AUDIENCE; DPOR_BENCH_PG_COUNT_STATEMENTS=1 adds x-dpor-sql-statements.
//
// Library mode rather than the CLI because the CLI verifies tokens with a shared secret only (--jwt-secret);
// the gateway's tokens are RS256, so jwt_rls gives PostGraphile the public key of the harness's JWKS file as
// jwtPublicKey, with jwtVerifyOptions (algorithm, issuer, audience; expiry is always checked).
// Workers are node:cluster processes sharing the port, as the CLI's --cluster-workers makes them.

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const { createRequire } = require('node:module');

function option(name) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0 || at + 1 >= process.argv.length) throw new Error(`missing --${name}`);
  return process.argv[at + 1];
}

const installDir = option('install');
const variant = option('variant');
const port = Number(option('port'));
const workers = Number(option('workers'));
if (!['no_auth', 'jwt_rls'].includes(variant)) throw new Error(`unknown variant ${variant}`);

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited with ${code}; stopping`);
      stop();
    }
    if (Object.keys(cluster.workers).length === 0) process.exit(stopping ? 0 : 1);
  });
} else {
  serve().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

function publicKey(jwksFile) {
  // The harness signs with one key (bench/tokens.py). PostGraphile accepts jwtPublicKey as a string, a Buffer or
  // jsonwebtoken's key callback: the callback hands over a parsed KeyObject, where a PEM string would be parsed
  // again for every request.
  const { keys } = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
  if (keys.length !== 1) throw new Error(`${jwksFile}: expected one key, found ${keys.length}`);
  const key = crypto.createPublicKey({ key: keys[0], format: 'jwk' });
  return (header, callback) => callback(null, key);
}

function countStatements(pg) {
  // Statements sent per request, for the harness's check (as the development gateway's header): pg's query is
  // wrapped to count into the request's async context; off under load.
  const requests = new AsyncLocalStorage();
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(...args) {
    const counter = requests.getStore();
    if (counter) counter.statements += 1;
    return query.apply(this, args);
  };
  return (req, res, next) => {
    const counter = { statements: 0 };
    const end = res.end;
    res.end = function endWithCount(...args) {
      if (!res.headersSent) res.setHeader('x-dpor-sql-statements', String(counter.statements));
      return end.apply(this, args);
    };
    requests.run(counter, next);
  };
}

async function serve() {
  const required = createRequire(path.join(installDir, 'package.json'));
  const pg = required('pg');
  const { postgraphile } = required('postgraphile');
  const counting = process.env.DPOR_BENCH_PG_COUNT_STATEMENTS === '1' ? countStatements(pg) : null;

  const pool = new pg.Pool({
    connectionString: process.env.DPOR_BENCH_PG_DATABASE_URL,
    max: Number(process.env.DPOR_BENCH_PG_POOL_SIZE || '10'),
  });
  const options = {
    graphqlRoute: '/graphql',
    graphiql: false,
    disableQueryLog: true,
    disableDefaultMutations: true,
    // Functions returning sets never return null rows here, so PostGraphile need not make list items nullable.
    setofFunctionsContainNulls: false,
    legacyRelations: 'omit',
    ignoreRBAC: true,
    enableQueryBatching: false,
    watchPg: false,
    retryOnInitFail: false,
    extendedErrors: ['hint', 'detail', 'errcode'],
  };
  if (variant === 'jwt_rls') {
    Object.assign(options, {
      jwtPublicKey: publicKey(process.env.DPOR_BENCH_PG_JWKS_FILE),
      jwtVerifyOptions: {
        algorithms: ['RS256'],
        issuer: process.env.DPOR_BENCH_PG_ISSUER,
        audience: process.env.DPOR_BENCH_PG_AUDIENCE,
      },
      // The gateway's tokens carry no `role` claim: every verified request runs as this role (no BYPASSRLS).
      pgDefaultRole: 'postgraphile_bench_user',
    });
  }
  const middleware = postgraphile(pool, 'postgraphile_bench', options);
  await middleware.getGraphQLSchema(); // built before the port answers: ready means ready

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (counting) counting(req, res, () => middleware(req, res));
    else middleware(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1', () => {
    console.log(`postgraphile worker ready: pid ${process.pid}, variant ${variant}, port ${port}`);
  });
  // Nothing to drain: the harness stops a server only between runs.
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
