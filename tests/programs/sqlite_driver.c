/* A small workload for the sqlite3 amalgamation (from the libsqlite3-sys
   crate): schema, inserts in a transaction, indexes, joins, aggregates, a
   user-defined SQL function and a callback from sqlite into this program.
   Output is deterministic, so a JIT'd run can be compared with a native one.
   argv[1], if given, scales the number of rows. */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static int rows_printed;

static int print_row(void *label, int columns, char **values, char **names) {
    rows_printed++;
    printf("%s:", (const char *)label);
    for (int i = 0; i < columns; i++)
        printf(" %s=%s", names[i], values[i] ? values[i] : "NULL");
    putchar('\n');
    return 0;
}

static void collatz_steps(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    long long n = sqlite3_value_int64(argv[0]), steps = 0;
    while (n > 1) {
        n = (n % 2) ? 3 * n + 1 : n / 2;
        steps++;
    }
    sqlite3_result_int64(ctx, steps);
}

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s failed: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void query(sqlite3 *db, const char *label, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, print_row, (void *)label, &error) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", label, error);
        sqlite3_free(error);
        exit(1);
    }
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 20000;
    sqlite3 *db;
    check(sqlite3_open(":memory:", &db), db, "open");
    printf("sqlite %s\n", sqlite3_libversion());
    check(sqlite3_create_function(db, "collatz", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                  collatz_steps, NULL, NULL),
          db, "create_function");
    query(db, "schema",
          "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT);"
          "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, item TEXT);");

    sqlite3_stmt *insert_customer, *insert_order;
    check(sqlite3_prepare_v2(db, "INSERT INTO customer VALUES(?1, ?2, ?3)", -1, &insert_customer, NULL), db, "prepare");
    check(sqlite3_prepare_v2(db, "INSERT INTO orders VALUES(?1, ?2, ?3, ?4)", -1, &insert_order, NULL), db, "prepare");
    static const char *cities[] = {"Oslo", "Lima", "Pune", "Kyiv", "Graz", "Cork", "Nara"};
    static const char *items[] = {"apple", "bread", "cheese", "dates", "eggs", "figs", "grapes", "honey"};
    char name[32];
    query(db, "begin", "BEGIN");
    int customers = rows / 10 + 1;
    for (int i = 1; i <= customers; i++) {
        snprintf(name, sizeof name, "customer-%05d", i);
        sqlite3_bind_int(insert_customer, 1, i);
        sqlite3_bind_text(insert_customer, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(insert_customer, 3, cities[(i * 7) % 7 == 0 ? i % 7 : (i * 3) % 7], -1, SQLITE_STATIC);
        if (sqlite3_step(insert_customer) != SQLITE_DONE) check(SQLITE_ERROR, db, "insert customer");
        sqlite3_reset(insert_customer);
    }
    unsigned seed = 12345;
    for (int i = 1; i <= rows; i++) {
        seed = seed * 1103515245u + 12345u;
        sqlite3_bind_int(insert_order, 1, i);
        sqlite3_bind_int(insert_order, 2, (int)(seed % (unsigned)customers) + 1);
        sqlite3_bind_double(insert_order, 3, (double)((seed >> 8) % 100000) / 100.0);
        sqlite3_bind_text(insert_order, 4, items[(seed >> 16) % 8], -1, SQLITE_STATIC);
        if (sqlite3_step(insert_order) != SQLITE_DONE) check(SQLITE_ERROR, db, "insert order");
        sqlite3_reset(insert_order);
    }
    query(db, "commit", "COMMIT");
    sqlite3_finalize(insert_customer);
    sqlite3_finalize(insert_order);
    query(db, "index", "CREATE INDEX orders_by_customer ON orders(customer)");

    query(db, "count", "SELECT count(*) AS n, round(sum(amount), 2) AS total FROM orders");
    query(db, "by_item",
          "SELECT item, count(*) AS n, round(avg(amount), 3) AS mean, round(max(amount), 2) AS top "
          "FROM orders GROUP BY item ORDER BY item");
    query(db, "by_city",
          "SELECT c.city, count(o.id) AS orders, round(sum(o.amount), 2) AS spent "
          "FROM customer c JOIN orders o ON o.customer = c.id GROUP BY c.city ORDER BY spent DESC");
    query(db, "top_customers",
          "SELECT c.name, round(sum(o.amount), 2) AS spent FROM customer c JOIN orders o ON o.customer = c.id "
          "GROUP BY c.id ORDER BY spent DESC, c.name LIMIT 5");
    query(db, "collatz",
          "SELECT id, collatz(id) AS steps FROM orders WHERE id % 997 = 0 ORDER BY steps DESC, id LIMIT 4");
    query(db, "window",
          "SELECT item, round(amount, 2) AS amount, rank() OVER (PARTITION BY item ORDER BY amount DESC) AS r "
          "FROM orders WHERE customer = 7 ORDER BY item, r LIMIT 6");
    query(db, "text", "SELECT upper(substr(name, 1, 8)) || '/' || length(name) AS label, printf('%08.3f', id / 7.0) AS f "
                      "FROM customer WHERE id IN (1, 2, 3)");
    printf("rows printed by callback: %d\n", rows_printed);
    check(sqlite3_close(db), db, "close");
    return 0;
}
