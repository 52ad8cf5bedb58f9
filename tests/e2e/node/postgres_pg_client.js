// Drives a PostgreSQL server with the npm pg client, whose parameterised queries use the extended query
// protocol (Parse/Bind/Describe/Execute/Sync), for the PostgreSQL e2e test.
//   node postgres_pg_client.js <port>
const { Client } = require('pg');
const port = Number(process.argv[2]);

async function main() {
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
  await client.connect();
  // Unnamed statement.
  let r = await client.query('SELECT item FROM orders WHERE id = $1', [1]);
  if (r.rows.length !== 1 || r.rows[0].item !== 'widget') throw new Error('unnamed statement');
  // A named statement: parsed once, then only bound and executed.
  for (const item of ['widget', 'secret-gadget']) {
    r = await client.query({ name: 'order-by-item', text: 'SELECT id FROM orders WHERE item = $1', values: [item] });
    if (r.rows.length !== 1) throw new Error('named statement');
  }
  // A transaction block over the extended protocol.
  await client.query('BEGIN');
  await client.query('INSERT INTO orders VALUES ($1, $2)', [3, 'gizmo']);
  await client.query('UPDATE orders SET item = $1 WHERE id = $2', ['gizmo2', 3]);
  await client.query('COMMIT');
  // An error: duplicate key.
  let failed = false;
  try {
    await client.query('INSERT INTO orders VALUES ($1, $2)', [1, 'dup']);
  } catch (e) {
    failed = e.code === '23505';
  }
  if (!failed) throw new Error('expected a unique violation');
  await client.end();
  console.log('pg client done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
