//! List sorting and paging: `sortBy` / `sortOrder`, `limit`, and opaque `opc-next-page`
//! tokens that name the last item returned (keyset paging), so inserts and deletes between
//! pages never make a client skip or repeat an item.
//!
//! A full page always carries a next-page token, even when nothing follows: a client then sees
//! a trailing empty page, as the real service sometimes sends, whenever the last page is exactly
//! full. Pure: no I/O.

use std::cmp::Ordering;

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

fn compare(by: SortBy, a: &Cursor, b: &Cursor) -> Ordering {
    match by {
        SortBy::Creation => a.seq.cmp(&b.seq),
        SortBy::TimeCreated => a.created_ms.cmp(&b.created_ms).then(a.seq.cmp(&b.seq)),
        SortBy::Name => a
            .name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.name.cmp(&b.name))
            .then(a.seq.cmp(&b.seq)),
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

/// Sorts `items` and returns the page after `req.page`.
pub(super) fn paginate<T>(items: Vec<Keyed<T>>, req: &PageRequest) -> Result<Page<T>, StoreError> {
    let limit = req.limit.max(1);
    let order = req.sort.effective_order();
    let by = req.sort.by;
    let ordered = |a: &Cursor, b: &Cursor| match order {
        SortOrder::Asc => compare(by, a, b),
        SortOrder::Desc => compare(by, b, a),
    };
    let after = req
        .page
        .as_deref()
        .map(|t| decode_token(req.sort, t))
        .transpose()?;
    let mut keyed: Vec<(Cursor, T)> = items
        .into_iter()
        .map(|k| {
            (
                Cursor {
                    seq: k.seq,
                    created_ms: k.created_ms,
                    name: k.name,
                },
                k.item,
            )
        })
        .filter(|(c, _)| {
            after
                .as_ref()
                .is_none_or(|a| ordered(c, a) == Ordering::Greater)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| ordered(a, b));
    keyed.truncate(limit);
    let next = (keyed.len() == limit)
        .then(|| keyed.last().map(|(c, _)| encode_token(req.sort, c)))
        .flatten();
    Ok(Page {
        items: keyed.into_iter().map(|(_, t)| t).collect(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(names: &[&str]) -> Vec<Keyed<String>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Keyed {
                seq: i64::try_from(i).unwrap() + 1,
                created_ms: 1000 * (i64::try_from(i).unwrap() % 2),
                name: (*n).to_owned(),
                item: (*n).to_owned(),
            })
            .collect()
    }

    fn all(names: &[&str], sort: Sort, limit: usize) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let mut page = None;
        let mut pages = 0;
        loop {
            let req = PageRequest {
                limit,
                page: page.take(),
                sort,
            };
            let p = paginate(items(names), &req).unwrap();
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
        let (creation, pages) = all(&names, Sort::default(), 2);
        assert_eq!(creation, names);
        assert_eq!(
            pages, 3,
            "2 + 2 + 1, no trailing page when the last is not full"
        );
        let name = Sort::parse(Some("name"), None).unwrap();
        assert_eq!(
            all(&names, name, 2).0,
            ["Alice", "bob", "carol", "dave", "erin"]
        );
        let desc = Sort::parse(Some("NAME"), Some("desc")).unwrap();
        assert_eq!(
            all(&names, desc, 3).0,
            ["erin", "dave", "carol", "bob", "Alice"]
        );
        let time = Sort::parse(Some("TIMECREATED"), None).unwrap();
        // created_ms alternates 0/1000; descending by default, ties by seq.
        assert_eq!(
            all(&names, time, 1).0,
            ["dave", "Alice", "erin", "bob", "carol"]
        );
    }

    #[test]
    fn an_exactly_full_last_page_is_followed_by_an_empty_one() {
        let (out, pages) = all(&["a", "b", "c", "d"], Sort::default(), 2);
        assert_eq!(out.len(), 4);
        assert_eq!(pages, 3, "2 + 2 + trailing empty page");
    }

    #[test]
    fn bad_and_foreign_tokens_are_invalid_parameters() {
        let req = |page: &str, sort| PageRequest {
            limit: 1,
            page: Some(page.to_owned()),
            sort,
        };
        let err = paginate(items(&["a"]), &req("garbage", Sort::default())).unwrap_err();
        assert!(matches!(err, StoreError::InvalidParameter(_)));
        let first = paginate(
            items(&["a", "b"]),
            &PageRequest {
                limit: 1,
                page: None,
                sort: Sort::default(),
            },
        )
        .unwrap();
        let token = first.next.unwrap();
        let by_name = Sort::parse(Some("NAME"), None).unwrap();
        let err = paginate(items(&["a", "b"]), &req(&token, by_name)).unwrap_err();
        assert!(err.to_string().contains("another sortBy"), "{err}");
        assert!(Sort::parse(Some("size"), None).is_err());
        assert!(Sort::parse(None, Some("up")).is_err());
    }

    #[test]
    fn a_deleted_cursor_item_does_not_break_paging() {
        let first = paginate(
            items(&["a", "b", "c"]),
            &PageRequest {
                limit: 2,
                page: None,
                sort: Sort::default(),
            },
        )
        .unwrap();
        // "b" (the cursor) is deleted before the next page is fetched.
        let mut rest = items(&["a", "b", "c"]);
        rest.remove(1);
        let second = paginate(
            rest,
            &PageRequest {
                limit: 2,
                page: first.next,
                sort: Sort::default(),
            },
        )
        .unwrap();
        assert_eq!(second.items, ["c"]);
    }
}
