// Servers for the client tests: `vecgate serve` (the binary in $VECGATE_BIN, which wasm/test.sh
// builds) and a throwaway PostgreSQL 15 cluster with ruvector, started the way the Rust tests'
// `PgCluster::start` does (tests/src/lib.rs): initdb as user `postgres` (trust auth, UTF-8, C
// locale), 127.0.0.1 only, fsync off. Anything that goes wrong throws an Error with the failing
// command's output: a test that needs a server and cannot get one fails, it never skips.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The `vecgate` binary; wasm/test.sh builds it and sets VECGATE_BIN. */
export function vecgateBin() {
  const bin = process.env.VECGATE_BIN;
  if (!bin) throw new Error('set VECGATE_BIN to the vecgate binary (wasm/test.sh builds target/debug/vecgate and sets it)');
  if (!existsSync(bin)) throw new Error(`VECGATE_BIN=${bin} does not exist: run \`cargo build -p vecgate-edge --bin vecgate\``);
  return bin;
}

const SERVER_START_MS = 120_000;

/**
 * Starts `vecgate serve --addr 127.0.0.1:PORT <args>` (PORT 0: the OS picks) and resolves once it
 * listens: `{origin, port, output(), stop(), restart()}`. `restart()` starts the same command on
 * the same port again (its data directory is kept).
 */
export async function startVecgate(args, { env = {}, port = 0 } = {}) {
  const bin = vecgateBin();
  // A developer's own VECGATE_* settings must not leak into the test, as in tests/src/server.rs.
  const childEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VECGATE_') || k === 'VECGATE_MODEL_DIR'),
  );
  Object.assign(childEnv, env);
  let log = '';
  const child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.removeAllListeners('exit');
      child.kill('SIGKILL');
      reject(new Error(`vecgate serve did not start in ${SERVER_START_MS} ms:\n${log}`));
    }, SERVER_START_MS);
    const collect = (chunk) => {
      log += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${bin}: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`vecgate serve exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  const boundPort = Number(new URL(origin).port);
  const server = {
    origin,
    port: boundPort,
    output: () => log,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** SIGTERM (the embedded store snapshots on the way out), then waits for the exit. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.removeAllListeners('exit');
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
    /** The same command on the same port; resolves with the new server. */
    async restart() {
      await server.stop();
      return startVecgate(args, { env, port: boundPort });
    },
  };
  return server;
}

/** `vecgate serve --sample` on a new data directory, with `args` (API keys, …). */
export async function startSampleServer(args, options = {}) {
  const dataDir = tempDataDir('vecgate-client-test-');
  const base = ['--sample', '--data-dir', dataDir];
  try {
    const server = await startVecgate([...base, ...args], options);
    return { server, dataDir };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL 15 with ruvector

const PG_BIN = '/usr/lib/postgresql/15/bin';
const RUVECTOR_FILES = ['/usr/lib/postgresql/15/lib/ruvector.so', '/usr/share/postgresql/15/extension/ruvector.control'];

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function run(command, args, what) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`${what} failed (${command} ${args.join(' ')}):\n${error.stdout ?? ''}${error.stderr ?? error.message}`);
  }
}

/** One of PostgreSQL's binaries, as user `postgres` when we are root (initdb and the server refuse root). */
function asPostgres(program, args, what) {
  const path = join(PG_BIN, program);
  return isRoot() ? run('runuser', ['-u', 'postgres', '--', path, ...args], what) : run(path, args, what);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A throwaway PostgreSQL 15 cluster (where ruvector is installed) on a free loopback port:
 * `{port, url(db), createDatabase(name), stop(), start(), destroy(), log()}`.
 */
export async function startPgCluster() {
  for (const file of RUVECTOR_FILES) {
    if (!existsSync(file)) throw new Error(`ruvector-postgres is not installed (${file} is missing): run .ci/install-ruvector.sh`);
  }
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/initdb): run .ci/install-ruvector.sh`);
  const dir = join(tmpdir(), `vecgate-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
  if (isRoot()) {
    run('install', ['-d', '-o', 'postgres', '-g', 'postgres', '-m', '700', dir], 'create the cluster directory');
  } else {
    run('install', ['-d', '-m', '700', dir], 'create the cluster directory');
  }
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  asPostgres('initdb', ['-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '-D', data], 'initdb');

  let port = 0;
  let running = false;
  const writeConfig = () => {
    const path = join(data, 'postgresql.auto.conf');
    writeFileSync(
      path,
      `listen_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${dir}'\n` +
        'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n',
    );
    if (isRoot()) run('chown', ['postgres:postgres', path], 'chown postgresql.auto.conf');
  };
  const start = async () => {
    asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start'], 'pg_ctl start');
    running = true;
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        execFileSync(join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`PostgreSQL never became ready; server log:\n${log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  // A port can be taken between probing and binding; try a few.
  let lastError;
  for (let i = 0; i < 5 && !running; i++) {
    port = await freePort();
    writeConfig();
    try {
      await start();
    } catch (error) {
      lastError = error;
    }
  }
  if (!running) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start PostgreSQL 15 after 5 attempts: ${lastError?.message}`);
  }

  const cluster = {
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    log,
    get running() {
      return running;
    },
    createDatabase(name) {
      if (!/^\w+$/.test(name)) throw new Error(`invalid database name ${name}`);
      run(join(PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-U', 'postgres', '-p', String(port), '-d', 'postgres', '-c', `CREATE DATABASE "${name}"`], 'CREATE DATABASE');
      return cluster.url(name);
    },
    /** `pg_ctl stop -m fast`; the data directory is kept for `start()`. */
    stop() {
      if (!running) return;
      asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop'], 'pg_ctl stop');
      running = false;
    },
    /** Starts the stopped cluster again, on the same port with the same data. */
    async start() {
      if (!running) await start();
    },
    /** Stops it (`-m immediate`) and removes its directory. */
    destroy() {
      if (running) {
        try {
          asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'], 'pg_ctl stop');
        } catch {
          // Removing the directory is what matters now.
        }
        running = false;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** A scratch directory for an embedded store. */
export function tempDataDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}
