// The npm mysql2 client against the e2e MariaDB: server-side prepared statements (execute = COM_STMT_PREPARE
// then COM_STMT_EXECUTE; unprepare = COM_STMT_CLOSE), a plain query, an error, and COM_QUIT at the end.
//   node mysql_client.js <port>
const mysql = require('mysql2/promise');

async function main() {
  const port = Number(process.argv[2]);
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: 'e2e' });
  const sql = 'SELECT id, name FROM t WHERE id = ?';
  const [rows] = await conn.execute(sql, [1]);
  if (rows.length !== 1 || rows[0].name !== 'secret-one') throw new Error(`unexpected rows ${JSON.stringify(rows)}`);
  conn.unprepare(sql);
  await conn.query("INSERT INTO t VALUES (2, 'secret-two')");
  try {
    await conn.execute('SELECT nope FROM t WHERE id = ?', [2]);
    throw new Error('a bad column should fail');
  } catch (e) {
    if (e.errno !== 1054) throw e;
  }
  await conn.end();
  console.log('mysql2 client: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
