// Node's mysql2 driver as a client of Meridian's router, run by
// internal/router/clients_test.go in two phases ("write", then "read" once
// the replica has caught up). The connection comes from the environment
// (MERIDIAN_HOST, MERIDIAN_PORT, MERIDIAN_USER, MERIDIAN_PASSWORD,
// MERIDIAN_DB), never from the command line. Every result is printed as
// one JSON line, for the test to compare.
'use strict';

const mysql = require('mysql2/promise');

const writes = 10; // rows inserted by prepared execution
const reads = 10; // executions of the one prepared read

function print(label, value) {
  process.stdout.write(JSON.stringify({ [label]: value }) + '\n');
}

async function write(conn) {
  await conn.query('CREATE TABLE node_items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), made DATETIME, body BLOB)');
  for (let i = 1; i <= writes; i++) {
    // execute() is a server-side prepared statement: prepared once, run ten times.
    await conn.execute('INSERT INTO node_items VALUES (?, ?, ?, ?, ?)',
      [i, `node ${i}`, i % 3 === 0 ? null : (i * 1.5).toFixed(2), new Date(Date.UTC(2024, 0, i, 12, 0, 0)), Buffer.from([0, i, 255])]);
  }
  const [res] = await conn.query('UPDATE node_items SET name = CONCAT(name, ?) WHERE id <= ?', ['!', 2]);
  print('updated', res.affectedRows);
  await conn.beginTransaction();
  await conn.execute('INSERT INTO node_items (id, name) VALUES (?, ?)', [100, 'in a transaction']);
  const [[own]] = await conn.execute('SELECT name FROM node_items WHERE id = ?', [100]);
  print('own write', own.name);
  await conn.commit();
}

async function read(conn) {
  const names = [];
  for (let i = 1; i <= reads; i++) {
    const [[row]] = await conn.execute('SELECT name, price, made, body FROM node_items WHERE id = ?', [i]);
    names.push(row.name);
    if (i === 3) {
      print('row 3', { price: row.price, made: row.made.toISOString(), body: [...row.body] });
    }
  }
  print('names', names);
  const [[count]] = await conn.query('SELECT COUNT(*) AS n FROM node_items');
  print('count', count.n);
  const [[server]] = await conn.query('SELECT node FROM meridian_test.whoami');
  print('read from', server.node);
  await conn.query('SET @x = 42');
  const [[x]] = await conn.execute('SELECT @x AS x, ? AS text', ['a string']);
  print('user variable', x);
  const [sets] = await conn.query('SELECT 1 AS a; SELECT name FROM node_items WHERE id = 100');
  print('multi-statement', sets.map((rows) => rows[0]));
  // One statement, prepared on the primary in a transaction, then run on
  // the replica outside it.
  const where = 'SELECT node FROM meridian_test.whoami WHERE node <> ?';
  await conn.beginTransaction();
  const [[locked]] = await conn.execute(where, ['']);
  await conn.rollback();
  const [[after]] = await conn.execute(where, ['']);
  print('transaction on, then', [locked.node, after.node]);
  const failed = await conn.execute('SELEC ?', [1]).catch((err) => err.errno);
  print('parse error', failed);
  const [many] = await conn.execute('SELECT seq FROM seq_1_to_5000 WHERE seq > ?', [0]);
  print('rows', [many.length, many.reduce((sum, r) => sum + Number(r.seq), 0)]);
  conn.unprepare('SELECT seq FROM seq_1_to_5000 WHERE seq > ?');
  await conn.ping();
  await conn.reset();
  const [[reset]] = await conn.query('SELECT @x AS x');
  print('after reset', reset);
  await conn.query('SET @x = 43');
  await conn.changeUser({ user: process.env.MERIDIAN_USER, password: process.env.MERIDIAN_PASSWORD, database: 'mysql' });
  const [[fresh]] = await conn.execute('SELECT @x AS x, DATABASE() AS db, (SELECT node FROM meridian_test.whoami) AS node');
  print('after change user', fresh);
}

const options = {
  host: process.env.MERIDIAN_HOST,
  port: Number(process.env.MERIDIAN_PORT),
  user: process.env.MERIDIAN_USER,
  password: process.env.MERIDIAN_PASSWORD,
  database: process.env.MERIDIAN_DB,
  multipleStatements: true,
  timezone: 'Z',
};

// readOverTLS reads through a TLS connection (the router's certificate is
// a throwaway one: not verified).
async function readOverTLS() {
  const conn = await mysql.createConnection({ ...options, ssl: { rejectUnauthorized: false } });
  try {
    const [[server]] = await conn.execute('SELECT node FROM meridian_test.whoami WHERE node <> ?', ['']);
    print('tls read from', server.node);
  } finally {
    await conn.end();
  }
}

async function main() {
  const phase = process.argv[2];
  const conn = await mysql.createConnection(options);
  try {
    if (phase === 'write') {
      await write(conn);
    } else if (phase === 'read') {
      await read(conn);
      await readOverTLS();
    } else {
      throw new Error(`unknown phase ${phase}: want write or read`);
    }
  } finally {
    await conn.end();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
