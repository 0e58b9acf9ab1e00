// MariaDB Connector/Node.js (the `mariadb` package) as a client of
// Meridian's router, run by internal/router/fidelity_integration_test.go
// against the primary directly and through the router: both runs must
// print the same lines. It exercises what is MariaDB's own: bulk
// execution (COM_STMT_BULK_EXECUTE), a batch over 16 MiB, ed25519 and
// multi-method accounts, the server's version and capabilities, and a
// connection the server closes. The connection comes from the
// environment (MERIDIAN_HOST, MERIDIAN_PORT, MERIDIAN_USER,
// MERIDIAN_PASSWORD, MERIDIAN_DB) and the run's table suffix from
// MERIDIAN_SUFFIX, never from the command line.
'use strict';

const mariadb = require('mariadb');

const base = {
  host: process.env.MERIDIAN_HOST,
  port: Number(process.env.MERIDIAN_PORT),
  user: process.env.MERIDIAN_USER,
  password: process.env.MERIDIAN_PASSWORD,
  database: process.env.MERIDIAN_DB,
  // The default second is short for an ed25519 signature in JavaScript on
  // a loaded machine.
  connectTimeout: 20000,
};
const table = 'bulk_' + process.env.MERIDIAN_SUFFIX;

function print(label, value) {
  process.stdout.write(JSON.stringify({ [label]: value }) + '\n');
}

async function attempt(label, f) {
  try {
    print(label, await f());
  } catch (err) {
    print(label, { error: err.errno || err.code || String(err) });
  }
}

async function main() {
  const conn = await mariadb.createConnection(base);
  print('version', conn.serverVersion());
  print('bulk capability', conn.info.serverCapabilities & (1n << 34n) ? true : false);
  await conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(200), place POINT)`);
  await attempt('batch', async () => {
    const rows = [];
    for (let i = 1; i <= 1000; i++) rows.push([i, `row ${i}`, { type: 'Point', coordinates: [i, -i] }]);
    const res = await conn.batch(`INSERT INTO ${table} VALUES (?, ?, ?)`, rows);
    return res.affectedRows;
  });
  await attempt('large batch', async () => {
    const rows = [];
    const name = 'x'.repeat(190);
    for (let i = 1001; i <= 101000; i++) rows.push([i, name, null]); // 100000 rows of ~200 bytes: over 16 MiB
    const res = await conn.batch(`INSERT INTO ${table} VALUES (?, ?, ?)`, rows);
    return res.affectedRows;
  });
  await attempt('read back', async () => {
    const [r] = await conn.query(`SELECT COUNT(*) AS n, SUM(id) AS s, ST_AsText(MAX(place)) AS p FROM ${table} WHERE id <= 1000`);
    return { n: Number(r.n), s: Number(r.s) };
  });
  await attempt('execute without placeholders', async () => conn.execute('SELECT 1 AS one, 2 AS two'));
  await attempt('execute without its parameters', async () => {
    const c = await mariadb.createConnection({ ...base, namedPlaceholders: true });
    try {
      await c.execute('SELECT ? AS a, ? AS b', ['1', '2']);
      return 'no error';
    } catch (err) {
      const [r] = await c.query('SELECT 1 AS still');
      return { error: err.errno, fatal: err.fatal, then: r.still };
    } finally {
      await c.end();
    }
  });
  await attempt('execute twice', async () => {
    await conn.execute(`SELECT name FROM ${table} WHERE id = ?`, [1]);
    return conn.execute(`SELECT name FROM ${table} WHERE id = ?`, [2]);
  });
  await conn.query(`DROP TABLE ${table}`);
  await conn.end();

  for (const [user, password] of [['ed', 'ed secret'], ['both', 'ed side'], ['both', 'native side'], ['ed', 'wrong']]) {
    await attempt(`login ${user}/${password}`, async () => {
      const c = await mariadb.createConnection({ ...base, user, password });
      const [r] = await c.query('SELECT CURRENT_USER() AS u');
      await c.end();
      return r.u;
    });
  }

  await attempt('kill own connection', async () => {
    const c = await mariadb.createConnection(base);
    c.on('error', () => {});
    try {
      await c.query('KILL ' + c.threadId);
      return 'no error';
    } catch (err) {
      return { error: err.errno, valid: c.isValid() };
    }
  });

  await attempt('kill another connection', async () => {
    const victim = await mariadb.createConnection(base);
    const ended = new Promise((resolve) => victim.on('error', (err) => resolve(err.fatal)));
    const killer = await mariadb.createConnection(base);
    await killer.query('KILL CONNECTION ' + victim.threadId);
    await killer.end();
    const fatal = await Promise.race([ended, new Promise((resolve) => setTimeout(() => resolve('still open'), 4000))]);
    return { fatal, valid: victim.isValid() };
  });

  await attempt('server closes an idle connection', async () => {
    const c = await mariadb.createConnection(base);
    const ended = new Promise((resolve) => c.on('error', (err) => resolve(err.code)));
    await c.query('SET SESSION wait_timeout = 1');
    const code = await Promise.race([ended, new Promise((resolve) => setTimeout(() => resolve('still open'), 4000))]);
    return { event: code, valid: c.isValid() };
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
