use super::*;
use serde_json::json;

fn put(key: &str, pre: Precondition, v: Value) -> Write {
    Write {
        key: key.into(),
        precondition: pre,
        mutation: Mutation::Put(v),
    }
}

#[tokio::test]
async fn revisions_are_global_and_preconditions_hold() {
    let store = Store::open(None, StoreOptions::default()).unwrap();
    let a = store
        .write(put(
            "/cm/ns/a",
            Precondition::MustNotExist,
            json!({"metadata": {"name": "a"}}),
        ))
        .await
        .unwrap();
    let b = store
        .write(put(
            "/cm/ns/b",
            Precondition::MustNotExist,
            json!({"metadata": {"name": "b"}}),
        ))
        .await
        .unwrap();
    assert_eq!((a.rev, b.rev), (1, 2));
    assert_eq!(b.value["metadata"]["resourceVersion"], "2");
    let again = store
        .write(put("/cm/ns/a", Precondition::MustNotExist, json!({})))
        .await;
    assert!(matches!(again, Err(CommitError::AlreadyExists)));
    let stale = store
        .write(put("/cm/ns/b", Precondition::AtRevision(1), json!({})))
        .await;
    assert!(matches!(stale, Err(CommitError::Conflict { current: 2 })));
    let ok = store
        .write(put(
            "/cm/ns/b",
            Precondition::AtRevision(2),
            json!({"x": 1}),
        ))
        .await
        .unwrap();
    assert_eq!(ok.rev, 3);
    let (items, rev, more) = store.list("/cm/ns/", None, None, |_| true);
    assert_eq!((items.len(), rev, more), (2, 3, false));
    let (events, upto) = store.events_after(1, "/cm/").unwrap();
    assert_eq!(upto, 3);
    assert_eq!(events.iter().map(|e| e.rev).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(events[1].kind, EventType::Modified);
    assert!(events[1].prev.is_some());
}

#[tokio::test]
async fn list_pages_by_key() {
    let store = Store::open(None, StoreOptions::default()).unwrap();
    for i in 0..5 {
        store
            .write(put(
                &format!("/cm/ns/{i}"),
                Precondition::MustNotExist,
                json!({}),
            ))
            .await
            .unwrap();
    }
    let (page, _, more) = store.list("/cm/ns/", None, Some(2), |_| true);
    assert_eq!(page.len(), 2);
    assert!(more);
    let (rest, _, more) = store.list("/cm/ns/", Some("/cm/ns/1"), None, |_| true);
    assert_eq!(rest.len(), 3);
    assert!(!more);
}

#[tokio::test]
async fn durable_state_and_log_survive_reopen_and_compaction_answers_gone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(Some(dir.path()), StoreOptions::default()).unwrap();
        for i in 0..10 {
            store
                .write(put(
                    &format!("/cm/ns/{i}"),
                    Precondition::MustNotExist,
                    json!({"i": i}),
                ))
                .await
                .unwrap();
        }
        store
            .write(Write {
                key: "/cm/ns/3".into(),
                precondition: Precondition::AtRevision(4),
                mutation: Mutation::Delete,
            })
            .await
            .unwrap();
    }
    let options = StoreOptions {
        min_retained_revisions: 2,
    };
    let store = Store::open(Some(dir.path()), options.clone()).unwrap();
    assert_eq!(store.current_revision(), 11);
    assert!(store.get("/cm/ns/3").is_none());
    assert_eq!(store.get("/cm/ns/4").unwrap().value["i"], 4);
    let (events, _) = store.events_after(9, "/cm/").unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].kind, EventType::Deleted);
    assert_eq!(events[1].object["metadata"]["resourceVersion"], "11");
    let next = store
        .write(put("/cm/ns/new", Precondition::MustNotExist, json!({})))
        .await
        .unwrap();
    assert_eq!(next.rev, 12);
    // Compaction keeps the last two revisions whatever is asked.
    assert_eq!(store.compact(100).await.unwrap(), 10);
    assert!(store.events_after(5, "").is_err());
    assert_eq!(store.events_after(10, "").unwrap().0.len(), 2);
    drop(store);
    let store = Store::open(Some(dir.path()), options).unwrap();
    assert_eq!(store.compacted_revision(), 10);
    let gone = store.events_after(3, "").unwrap_err();
    assert_eq!(gone.compacted, 10);
}
