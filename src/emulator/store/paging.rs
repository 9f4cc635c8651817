//! List sorting and paging: `sortBy` / `sortOrder`, `limit`, and opaque `opc-next-page`
//! tokens that name the last item returned (keyset paging), so inserts and deletes between
//! pages never make a client skip or repeat an item.
//!
//! A page is one SQL query ([`PageSql`]): the list's filter, a keyset condition "after the
//! cursor", `ORDER BY` the sort's keys and `LIMIT` the page size, so a page costs its own size
//! (the keys are indexed: `seq`, `(created_ms, seq)`, and the unique `name` of users and
//! groups), never a decode and sort of the whole table. Names sort by ASCII-case-folded name,
//! then the exact name, then creation order (users' and groups' names are unique ignoring
//! ASCII case, so the name alone orders them); `TIMECREATED` by time, then creation order.
//!
//! A full page always carries a next-page token, even when nothing follows: a client then sees
//! a trailing empty page, as the real service sometimes sends, whenever the last page is exactly
//! full. Pure: builds SQL text and parameters, runs nothing.

use base64::Engine as _;

use super::StoreError;

/// `sortBy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// No `sortBy`: creation order (oldest first).
    #[default]
    Creation,
    /// `TIMECREATED` (default order descending).
    TimeCreated,
    /// `NAME` (default order ascending, case-insensitive).
    Name,
}

/// `sortOrder`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    /// `ASC`.
    Asc,
    /// `DESC`.
    Desc,
}

/// A list's sort: field and order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    /// The field.
    pub by: SortBy,
    /// The order; `None` takes the field's default.
    pub order: Option<SortOrder>,
}

impl Sort {
    /// Parses `sortBy` and `sortOrder` query values (case-insensitive).
    ///
    /// # Errors
    /// [`StoreError::InvalidParameter`] for any other value.
    pub fn parse(by: Option<&str>, order: Option<&str>) -> Result<Self, StoreError> {
        let by = match by {
            None => SortBy::Creation,
            Some(s) if s.eq_ignore_ascii_case("TIMECREATED") => SortBy::TimeCreated,
            Some(s) if s.eq_ignore_ascii_case("NAME") => SortBy::Name,
            Some(_) => {
                return Err(StoreError::InvalidParameter(
                    "sortBy must be TIMECREATED or NAME".to_owned(),
                ));
            }
        };
        let order = match order {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("ASC") => Some(SortOrder::Asc),
            Some(s) if s.eq_ignore_ascii_case("DESC") => Some(SortOrder::Desc),
            Some(_) => {
                return Err(StoreError::InvalidParameter(
                    "sortOrder must be ASC or DESC".to_owned(),
                ));
            }
        };
        Ok(Self { by, order })
    }

    fn effective_order(self) -> SortOrder {
        self.order.unwrap_or(match self.by {
            SortBy::TimeCreated => SortOrder::Desc,
            SortBy::Creation | SortBy::Name => SortOrder::Asc,
        })
    }

    fn tag(self) -> &'static str {
        match (self.by, self.effective_order()) {
            (SortBy::Creation, SortOrder::Asc) => "ca",
            (SortBy::Creation, SortOrder::Desc) => "cd",
            (SortBy::TimeCreated, SortOrder::Asc) => "ta",
            (SortBy::TimeCreated, SortOrder::Desc) => "td",
            (SortBy::Name, SortOrder::Asc) => "na",
            (SortBy::Name, SortOrder::Desc) => "nd",
        }
    }
}

/// What page of a list to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items to return (at least 1).
    pub limit: usize,
    /// The `page` token from the previous response's `opc-next-page`.
    pub page: Option<String>,
    /// The sort.
    pub sort: Sort,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `opc-next-page`, when the page is full.
    pub next: Option<String>,
}

/// An item with the keys it sorts by.
#[derive(Clone, Debug)]
pub(super) struct Keyed<T> {
    pub seq: i64,
    pub created_ms: i64,
    pub name: String,
    pub item: T,
}

/// The position of an item in a sorted list.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    seq: i64,
    created_ms: i64,
    name: String,
}

/// The column a table's `NAME` sort uses (a trusted identifier, never input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NameColumn {
    /// A `COLLATE NOCASE UNIQUE` column: the name alone orders, through its index.
    UniqueNocase(&'static str),
    /// Any other column: case-folded, then exact, then creation order.
    Plain(&'static str),
}

/// A list's filter: SQL conditions joined by `AND`, with their `?` parameters in order.
#[derive(Clone, Debug, Default)]
pub(super) struct Filter {
    sql: String,
    params: Vec<rusqlite::types::Value>,
}

impl Filter {
    /// Adds `condition` (one `?` placeholder, a trusted SQL fragment) bound to `value`.
    pub(super) fn and(&mut self, condition: &'static str, value: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push('(');
        self.sql.push_str(condition);
        self.sql.push(')');
        self.params
            .push(rusqlite::types::Value::Text(value.to_owned()));
    }
}

/// One page's query: the rows of `table` matching `filter` after the cursor, in sort order,
/// at most `limit` of them. Selects `doc, etag, seq, created_ms, <name>`.
#[derive(Clone, Debug)]
pub(super) struct PageSql {
    /// The statement.
    pub sql: String,
    /// Its parameters, in placeholder order.
    pub params: Vec<rusqlite::types::Value>,
}

/// The query for the page `req` of `table` (a trusted identifier) filtered by `filter`.
///
/// # Errors
/// [`StoreError::InvalidParameter`] for a malformed page token or one issued for another sort.
pub(super) fn page_sql(
    table: &str,
    name: NameColumn,
    filter: Filter,
    req: &PageRequest,
) -> Result<PageSql, StoreError> {
    let desc = req.sort.effective_order() == SortOrder::Desc;
    let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
    let name_col = match name {
        NameColumn::UniqueNocase(c) | NameColumn::Plain(c) => c,
    };
    // The sort keys (SQL expressions) and the cursor's value for each.
    let keys: Vec<(String, &str)> = match (req.sort.by, name) {
        (SortBy::Creation, _) => vec![("seq".to_owned(), "seq")],
        (SortBy::TimeCreated, _) => vec![
            ("created_ms".to_owned(), "created"),
            ("seq".to_owned(), "seq"),
        ],
        (SortBy::Name, NameColumn::UniqueNocase(c)) => {
            vec![(format!("{c} COLLATE NOCASE"), "name")]
        }
        (SortBy::Name, NameColumn::Plain(c)) => vec![
            (format!("{c} COLLATE NOCASE"), "name"),
            (format!("{c} COLLATE BINARY"), "name"),
            ("seq".to_owned(), "seq"),
        ],
    };
    let mut params = filter.params;
    let mut conditions = Vec::new();
    if !filter.sql.is_empty() {
        conditions.push(filter.sql);
    }
    if let Some(token) = req.page.as_deref() {
        let after = decode_token(req.sort, token)?;
        let lhs: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        let rhs = vec!["?"; keys.len()];
        conditions.push(format!("({}) {cmp} ({})", lhs.join(", "), rhs.join(", ")));
        for (_, which) in &keys {
            params.push(match *which {
                "seq" => rusqlite::types::Value::Integer(after.seq),
                "created" => rusqlite::types::Value::Integer(after.created_ms),
                _ => rusqlite::types::Value::Text(after.name.clone()),
            });
        }
    }
    let order: Vec<String> = keys.iter().map(|(k, _)| format!("{k} {dir}")).collect();
    let limit = i64::try_from(req.limit.max(1)).unwrap_or(i64::MAX);
    params.push(rusqlite::types::Value::Integer(limit));
    let condition = if conditions.is_empty() {
        "1".to_owned()
    } else {
        conditions.join(" AND ")
    };
    Ok(PageSql {
        sql: format!(
            "SELECT doc, etag, seq, created_ms, {name_col} FROM {table} WHERE {condition} \
             ORDER BY {} LIMIT ?",
            order.join(", ")
        ),
        params,
    })
}

/// The page made of `rows` (the query's result, in order): a next-page token naming the last
/// row when the page is full.
pub(super) fn finish<T>(rows: Vec<Keyed<T>>, req: &PageRequest) -> Page<T> {
    let next = (rows.len() >= req.limit.max(1))
        .then(|| {
            rows.last().map(|k| {
                encode_token(
                    req.sort,
                    &Cursor {
                        seq: k.seq,
                        created_ms: k.created_ms,
                        name: k.name.clone(),
                    },
                )
            })
        })
        .flatten();
    Page {
        items: rows.into_iter().map(|k| k.item).collect(),
        next,
    }
}

const TOKEN_PREFIX: &str = "AAAAAAAAAA";

fn encode_token(sort: Sort, c: &Cursor) -> String {
    let raw = format!(
        "v1\n{}\n{}\n{}\n{}",
        sort.tag(),
        c.seq,
        c.created_ms,
        c.name
    );
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn decode_token(sort: Sort, token: &str) -> Result<Cursor, StoreError> {
    let bad = || StoreError::InvalidParameter("Invalid page token".to_owned());
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(5, '\n');
    let (Some("v1"), Some(tag), Some(seq), Some(created), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if tag != sort.tag() {
        return Err(StoreError::InvalidParameter(
            "The page token was issued for another sortBy/sortOrder".to_owned(),
        ));
    }
    Ok(Cursor {
        seq: seq.parse().map_err(|_| bad())?,
        created_ms: created.parse().map_err(|_| bad())?,
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::schema::SCHEMA;
    use super::*;

    /// A table like the store's, with `names` inserted in creation order; `created_ms`
    /// alternates 0/1000.
    fn db(names: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (seq INTEGER UNIQUE, created_ms INTEGER, name TEXT, etag TEXT, doc TEXT);
             CREATE INDEX t_created ON t(created_ms, seq);",
        )
        .unwrap();
        for (i, n) in names.iter().enumerate() {
            let i = i64::try_from(i).unwrap();
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, '', '')",
                rusqlite::params![i + 1, 1000 * (i % 2), n],
            )
            .unwrap();
        }
        conn
    }

    fn run(
        conn: &Connection,
        filter: Filter,
        req: &PageRequest,
    ) -> Result<Page<String>, StoreError> {
        let q = page_sql("t", NameColumn::Plain("name"), filter, req)?;
        let mut stmt = conn.prepare(&q.sql).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(q.params), |r| {
                Ok(Keyed {
                    seq: r.get(2)?,
                    created_ms: r.get(3)?,
                    name: r.get(4)?,
                    item: r.get(4)?,
                })
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        Ok(finish(rows, req))
    }

    fn all(conn: &Connection, sort: Sort, limit: usize) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let mut page = None;
        let mut pages = 0;
        loop {
            let req = PageRequest {
                limit,
                page: page.take(),
                sort,
            };
            let p = run(conn, Filter::default(), &req).unwrap();
            pages += 1;
            out.extend(p.items);
            match p.next {
                Some(n) => page = Some(n),
                None => return (out, pages),
            }
        }
    }

    #[test]
    fn pages_cover_every_item_once_in_each_sort() {
        let names = ["carol", "Alice", "bob", "dave", "erin"];
        let conn = db(&names);
        let (creation, pages) = all(&conn, Sort::default(), 2);
        assert_eq!(creation, names);
        assert_eq!(
            pages, 3,
            "2 + 2 + 1, no trailing page when the last is not full"
        );
        let name = Sort::parse(Some("name"), None).unwrap();
        assert_eq!(
            all(&conn, name, 2).0,
            ["Alice", "bob", "carol", "dave", "erin"]
        );
        let desc = Sort::parse(Some("NAME"), Some("desc")).unwrap();
        assert_eq!(
            all(&conn, desc, 3).0,
            ["erin", "dave", "carol", "bob", "Alice"]
        );
        let time = Sort::parse(Some("TIMECREATED"), None).unwrap();
        // created_ms alternates 0/1000; descending by default, ties by seq.
        assert_eq!(
            all(&conn, time, 1).0,
            ["dave", "Alice", "erin", "bob", "carol"]
        );
        let time_asc = Sort::parse(Some("TIMECREATED"), Some("ASC")).unwrap();
        assert_eq!(
            all(&conn, time_asc, 2).0,
            ["carol", "bob", "erin", "Alice", "dave"]
        );
        let creation_desc = Sort::parse(None, Some("DESC")).unwrap();
        assert_eq!(
            all(&conn, creation_desc, 4).0,
            ["erin", "dave", "bob", "Alice", "carol"]
        );
    }

    #[test]
    fn names_differing_only_in_case_sort_by_exact_name_then_creation() {
        let conn = db(&["b", "B", "a", "b"]);
        let name = Sort::parse(Some("NAME"), None).unwrap();
        let (out, _) = all(&conn, name, 1);
        assert_eq!(out, ["a", "B", "b", "b"]);
    }

    #[test]
    fn a_filter_applies_before_the_limit() {
        let conn = db(&["a", "b", "c", "d"]);
        let mut filter = Filter::default();
        filter.and("name <> ?", "b");
        let page = run(
            &conn,
            filter,
            &PageRequest {
                limit: 2,
                page: None,
                sort: Sort::default(),
            },
        )
        .unwrap();
        assert_eq!(page.items, ["a", "c"]);
        assert!(page.next.is_some());
    }

    #[test]
    fn an_exactly_full_last_page_is_followed_by_an_empty_one() {
        let (out, pages) = all(&db(&["a", "b", "c", "d"]), Sort::default(), 2);
        assert_eq!(out.len(), 4);
        assert_eq!(pages, 3, "2 + 2 + trailing empty page");
    }

    #[test]
    fn bad_and_foreign_tokens_are_invalid_parameters() {
        let conn = db(&["a", "b"]);
        let req = |page: &str, sort| PageRequest {
            limit: 1,
            page: Some(page.to_owned()),
            sort,
        };
        let err = run(&conn, Filter::default(), &req("garbage", Sort::default())).unwrap_err();
        assert!(matches!(err, StoreError::InvalidParameter(_)));
        let first = run(
            &conn,
            Filter::default(),
            &PageRequest {
                limit: 1,
                page: None,
                sort: Sort::default(),
            },
        )
        .unwrap();
        let token = first.next.unwrap();
        let by_name = Sort::parse(Some("NAME"), None).unwrap();
        let err = run(&conn, Filter::default(), &req(&token, by_name)).unwrap_err();
        assert!(err.to_string().contains("another sortBy"), "{err}");
        assert!(Sort::parse(Some("size"), None).is_err());
        assert!(Sort::parse(None, Some("up")).is_err());
    }

    #[test]
    fn a_deleted_cursor_item_does_not_break_paging() {
        let conn = db(&["a", "b", "c"]);
        let first = run(
            &conn,
            Filter::default(),
            &PageRequest {
                limit: 2,
                page: None,
                sort: Sort::default(),
            },
        )
        .unwrap();
        // "b" (the cursor) is deleted before the next page is fetched.
        conn.execute("DELETE FROM t WHERE name = 'b'", []).unwrap();
        let second = run(
            &conn,
            Filter::default(),
            &PageRequest {
                limit: 2,
                page: first.next,
                sort: Sort::default(),
            },
        )
        .unwrap();
        assert_eq!(second.items, ["c"]);
    }

    /// The store's own tables: every sort of users and groups walks an index in order (no
    /// temporary sort of the table), so a page reads about `limit` rows.
    #[test]
    fn user_and_group_pages_read_an_index_in_order_not_a_sorted_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for table in ["iam_users", "iam_groups"] {
            for (by, order) in [
                (None, None),
                (None, Some("DESC")),
                (Some("NAME"), None),
                (Some("NAME"), Some("DESC")),
                (Some("TIMECREATED"), None),
                (Some("TIMECREATED"), Some("ASC")),
            ] {
                let sort = Sort::parse(by, order).unwrap();
                let token = encode_token(
                    sort,
                    &Cursor {
                        seq: 7,
                        created_ms: 7,
                        name: "x".to_owned(),
                    },
                );
                for page in [None, Some(token)] {
                    let req = PageRequest {
                        limit: 10,
                        page,
                        sort,
                    };
                    let q = page_sql(
                        table,
                        NameColumn::UniqueNocase("name"),
                        Filter::default(),
                        &req,
                    )
                    .unwrap();
                    let mut stmt = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))
                        .unwrap();
                    let plan: Vec<String> = stmt
                        .query_map(rusqlite::params_from_iter(q.params), |r| {
                            r.get::<_, String>(3)
                        })
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap();
                    let plan = plan.join("; ");
                    assert!(
                        !plan.contains("TEMP B-TREE") && plan.contains("INDEX"),
                        "{table} {by:?} {order:?} (cursor: {}): {plan}",
                        req.page.is_some()
                    );
                }
            }
        }
    }
}
