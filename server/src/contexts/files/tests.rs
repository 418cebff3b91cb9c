//! Service tests on `db::testing`'s fixture: SQLite in memory, or PostgreSQL with
//! `TEST_DATABASE_URL`.

use futures_util::StreamExt;

use super::*;
use crate::config::FilesConfig;
use crate::contexts::auth::{Principal, Role};
use crate::contexts::media::MediaError;
use crate::db::query;
use crate::db::testing::{Fixture, PASSWORD};

async fn setup() -> (Fixture, FilesService, Principal) {
    setup_with(FilesConfig::default()).await
}

async fn setup_with(config: FilesConfig) -> (Fixture, FilesService, Principal) {
    let fixture = Fixture::new().await;
    let files = fixture.files(config);
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    (fixture, files, ana)
}

async fn read_all(files: &FilesService, by: &Principal, node: &Node) -> Vec<u8> {
    let mut read = files.read(by, &node.id, None, None).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = read.stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn each_user_has_one_personal_space_that_only_they_see() {
    let (fixture, files, ana) = setup().await;
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    let spaces = files.spaces(&ana).await.unwrap();
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0].kind, SpaceKind::Personal);
    assert_eq!(files.spaces(&ana).await.unwrap()[0].id, spaces[0].id);
    let personal = &spaces[0].id;
    assert!(matches!(
        files.space(&bia, personal).await,
        Err(FilesError::NotFound)
    ));
    assert!(matches!(
        files.write_bytes(&bia, personal, "/x", b"x", None).await,
        Err(FilesError::NotFound)
    ));
    let family = files.create_space(&ana, "Family").await.unwrap();
    let seen: Vec<_> = files.spaces(&bia).await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].id, family.id);
    files
        .write_bytes(&bia, &family.id, "/from-bia.txt", b"hi", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn guests_read_community_spaces_and_change_nothing() {
    let (fixture, files, ana) = setup().await;
    let guest = fixture
        .invited(&ana, "guest@example.org", Role::Guest)
        .await;
    let family = files.create_space(&ana, "Family").await.unwrap();
    let written = files
        .write_bytes(&ana, &family.id, "/a.txt", b"a", None)
        .await
        .unwrap();
    assert_eq!(
        files.node(&guest, &written.node.id).await.unwrap().name,
        "a.txt"
    );
    assert!(matches!(
        files
            .write_bytes(&guest, &family.id, "/b.txt", b"b", None)
            .await,
        Err(FilesError::GuestsMayNot(_))
    ));
    assert!(matches!(
        files.delete(&guest, &written.node.id).await,
        Err(FilesError::GuestsMayNot(_))
    ));
    assert!(matches!(
        files.create_space(&guest, "Mine").await,
        Err(FilesError::GuestsMayNot(_))
    ));
}

#[tokio::test]
async fn names_are_unique_per_folder_without_case() {
    let (_fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    files.create_folder(&ana, &space.id, "/Docs").await.unwrap();
    assert!(matches!(
        files.create_folder(&ana, &space.id, "/docs").await,
        Err(FilesError::NameTaken(_))
    ));
    assert!(matches!(
        files.create_folder(&ana, &space.id, "/missing/child").await,
        Err(FilesError::ParentMissing)
    ));
    assert!(matches!(
        files
            .write_bytes(&ana, &space.id, "/DOCS", b"x", None)
            .await,
        Err(FilesError::NameTaken(_))
    ));
    assert!(matches!(
        files.create_folder(&ana, &space.id, "/a/../b").await,
        Err(FilesError::InvalidName(_))
    ));
    let written = files
        .write_bytes(&ana, &space.id, "/docs/Notes.TXT", b"n", None)
        .await
        .unwrap();
    assert_eq!(written.node.path, "/Docs/Notes.TXT");
    let by_path = files
        .node_by_path(&ana, &space.id, "/DOCS/notes.txt")
        .await
        .unwrap();
    assert_eq!(by_path.id, written.node.id);
    // Folders first, then by name without case.
    files
        .write_bytes(&ana, &space.id, "/b.txt", b"b", None)
        .await
        .unwrap();
    files
        .write_bytes(&ana, &space.id, "/A.txt", b"a", None)
        .await
        .unwrap();
    files.create_folder(&ana, &space.id, "/zeta").await.unwrap();
    let listed = files.list(&ana, &space.root_id, None, 100).await.unwrap();
    let names: Vec<_> = listed.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["Docs", "zeta", "A.txt", "b.txt"]);
    let after = sort_key(&listed[1]);
    let page = files
        .list(&ana, &space.root_id, Some(&after), 1)
        .await
        .unwrap();
    assert_eq!(page[0].name, "A.txt");
}

#[tokio::test]
async fn every_write_is_a_version_and_old_ones_are_pruned() {
    let config = FilesConfig {
        keep_versions: 2,
        ..FilesConfig::default()
    };
    let (fixture, files, ana) = setup_with(config).await;
    let space = files.personal_space(&ana).await.unwrap();
    let first = files
        .write_bytes(&ana, &space.id, "/f.txt", b"one", None)
        .await
        .unwrap();
    assert!(first.created && !first.conflict);
    let second = files
        .write_bytes(&ana, &space.id, "/f.txt", b"two", None)
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.node.id, first.node.id);
    assert_eq!(read_all(&files, &ana, &second.node).await, b"two");
    // The same bytes again change nothing.
    let same = files
        .write_bytes(&ana, &space.id, "/f.txt", b"two", None)
        .await
        .unwrap();
    assert_eq!(same.version.id, second.version.id);
    files
        .write_bytes(&ana, &space.id, "/f.txt", b"three", None)
        .await
        .unwrap();
    let versions = files.versions(&ana, &first.node.id).await.unwrap();
    assert_eq!(versions.len(), 2, "keep_versions = 2");
    assert_eq!(versions[1].id, second.version.id);
    // The pruned version's bytes are gone from the blob store.
    let media = fixture.media();
    assert!(matches!(
        media.read_blob(&first.version.content_hash, None).await,
        Err(MediaError::NotFound)
    ));
    // An old version can be read and restored.
    let mut old = files
        .read(&ana, &first.node.id, Some(&second.version.id), None)
        .await
        .unwrap();
    assert_eq!(&old.stream.next().await.unwrap().unwrap()[..], b"two");
    let restored = files
        .restore_version(&ana, &first.node.id, &second.version.id)
        .await
        .unwrap();
    assert_eq!(read_all(&files, &ana, &restored.node).await, b"two");
    assert_eq!(files.versions(&ana, &first.node.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_upload_based_on_an_old_version_keeps_both() {
    let (_fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    let first = files
        .write_bytes(&ana, &space.id, "/report.pdf", b"v1", None)
        .await
        .unwrap();
    files
        .write_bytes(
            &ana,
            &space.id,
            "/report.pdf",
            b"v2",
            Some(&first.version.id),
        )
        .await
        .unwrap();
    let late = files
        .write_bytes(
            &ana,
            &space.id,
            "/report.pdf",
            b"v2 from a laptop",
            Some(&first.version.id),
        )
        .await
        .unwrap();
    assert!(late.conflict && late.created);
    assert!(
        late.node
            .name
            .starts_with("report (conflict from another device ")
            && late.node.name.ends_with(".pdf"),
        "{}",
        late.node.name
    );
    let original = files
        .node_by_path(&ana, &space.id, "/report.pdf")
        .await
        .unwrap();
    assert_eq!(read_all(&files, &ana, &original).await, b"v2");
    assert_eq!(
        read_all(&files, &ana, &late.node).await,
        b"v2 from a laptop"
    );
}

#[tokio::test]
async fn moves_keep_the_bytes_and_etags_change_up_the_tree() {
    let (_fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    files.create_folder(&ana, &space.id, "/a").await.unwrap();
    files
        .create_folder(&ana, &space.id, "/a/deep")
        .await
        .unwrap();
    let other = files
        .create_folder(&ana, &space.id, "/other")
        .await
        .unwrap();
    let file = files
        .write_bytes(&ana, &space.id, "/a/deep/f.txt", b"bytes", None)
        .await
        .unwrap();
    let a = files.node_by_path(&ana, &space.id, "/a").await.unwrap();
    let root = files.node_by_path(&ana, &space.id, "/").await.unwrap();
    assert_eq!(
        a.etag, file.node.etag,
        "the folders above take the change's ETag"
    );
    assert_eq!(root.etag, file.node.etag);
    let other_before = files.node(&ana, &other.id).await.unwrap().etag;
    files
        .write_bytes(&ana, &space.id, "/a/deep/f.txt", b"bytes 2", None)
        .await
        .unwrap();
    let a_after = files.node_by_path(&ana, &space.id, "/a").await.unwrap();
    assert_ne!(a_after.etag, a.etag);
    assert_eq!(
        files.node(&ana, &other.id).await.unwrap().etag,
        other_before
    );

    let moved = files
        .move_node(&ana, &file.node.id, "/other/renamed.txt")
        .await
        .unwrap();
    assert_eq!(moved.id, file.node.id);
    assert_eq!(moved.path, "/other/renamed.txt");
    assert_eq!(files.versions(&ana, &moved.id).await.unwrap().len(), 2);
    assert_eq!(read_all(&files, &ana, &moved).await, b"bytes 2");
    assert_ne!(
        files.node(&ana, &other.id).await.unwrap().etag,
        other_before
    );
    assert_ne!(
        files
            .node_by_path(&ana, &space.id, "/a")
            .await
            .unwrap()
            .etag,
        a_after.etag,
        "the folder a node left changed too"
    );
    assert!(matches!(
        files.move_node(&ana, &a.id, "/a/deep/inside").await,
        Err(FilesError::IntoItself)
    ));
    assert!(matches!(
        files.move_node(&ana, &a.id, "/other").await,
        Err(FilesError::NameTaken(_))
    ));
    // Rename in place, changing only case.
    let renamed = files.move_node(&ana, &a.id, "/A").await.unwrap();
    assert_eq!(renamed.path, "/A");
}

#[tokio::test]
async fn copies_share_bytes_and_count_once() {
    let (fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    files.create_folder(&ana, &space.id, "/src").await.unwrap();
    files
        .create_folder(&ana, &space.id, "/src/sub")
        .await
        .unwrap();
    files
        .write_bytes(&ana, &space.id, "/src/sub/x.bin", &[7; 1000], None)
        .await
        .unwrap();
    files
        .write_bytes(&ana, &space.id, "/src/y.bin", &[8; 500], None)
        .await
        .unwrap();
    let neighbour = neighbour::FilesBlobs(store::FilesStore::new(fixture.db.clone()));
    use crate::contexts::media::BlobNeighbour;
    assert_eq!(neighbour.bytes_used(&ana.community_id).await.unwrap(), 1500);
    let src = files.node_by_path(&ana, &space.id, "/src").await.unwrap();
    let copy = files.copy_node(&ana, &src.id, "/copy").await.unwrap();
    assert_eq!(copy.path, "/copy");
    let x = files
        .node_by_path(&ana, &space.id, "/copy/sub/x.bin")
        .await
        .unwrap();
    assert_eq!(read_all(&files, &ana, &x).await, vec![7; 1000]);
    assert_eq!(neighbour.bytes_used(&ana.community_id).await.unwrap(), 1500);
    assert!(matches!(
        files.copy_node(&ana, &src.id, "/src/sub/again").await,
        Err(FilesError::IntoItself)
    ));
}

#[tokio::test]
async fn the_trash_keeps_the_path_restores_and_purges() {
    let config = FilesConfig {
        trash_days: 30,
        ..FilesConfig::default()
    };
    let (fixture, files, ana) = setup_with(config).await;
    let space = files.personal_space(&ana).await.unwrap();
    files.create_folder(&ana, &space.id, "/docs").await.unwrap();
    let file = files
        .write_bytes(&ana, &space.id, "/docs/a.txt", b"aaa", None)
        .await
        .unwrap();
    files.delete(&ana, &file.node.id).await.unwrap();
    assert!(matches!(
        files.node(&ana, &file.node.id).await,
        Err(FilesError::NotFound)
    ));
    let docs = files.node_by_path(&ana, &space.id, "/docs").await.unwrap();
    files.delete(&ana, &docs.id).await.unwrap();
    let trash = files.trash(&ana, &space.id).await.unwrap();
    assert_eq!(trash.len(), 2);
    assert_eq!(trash[1].original_path, "/docs/a.txt");
    // The trash still counts against the quota.
    let neighbour = neighbour::FilesBlobs(store::FilesStore::new(fixture.db.clone()));
    use crate::contexts::media::BlobNeighbour;
    assert_eq!(neighbour.bytes_used(&ana.community_id).await.unwrap(), 3);
    // Its folder is gone too: restoring makes it again.
    let restored = files.restore(&ana, &file.node.id, None).await.unwrap();
    assert_eq!(restored.path, "/docs/a.txt");
    assert_eq!(read_all(&files, &ana, &restored).await, b"aaa");
    // The old folder, restored, finds its name taken.
    let folder = files.restore(&ana, &docs.id, None).await.unwrap();
    assert_eq!(folder.path, "/docs (restored)");
    // Into another folder, and then purged.
    files.delete(&ana, &restored.id).await.unwrap();
    let elsewhere = files
        .restore(&ana, &restored.id, Some("/docs (restored)"))
        .await
        .unwrap();
    assert_eq!(elsewhere.path, "/docs (restored)/a.txt");
    files.delete(&ana, &elsewhere.id).await.unwrap();
    files.purge(&ana, &elsewhere.id).await.unwrap();
    assert!(files.trash(&ana, &space.id).await.unwrap().is_empty());
    assert_eq!(neighbour.bytes_used(&ana.community_id).await.unwrap(), 0);
    let media = fixture.media();
    assert!(matches!(
        media.read_blob(&file.version.content_hash, None).await,
        Err(MediaError::NotFound)
    ));
    // Automatic purge after trash_days.
    let old = files
        .write_bytes(&ana, &space.id, "/old.txt", b"old", None)
        .await
        .unwrap();
    files.delete(&ana, &old.node.id).await.unwrap();
    let now = chrono::Utc::now();
    assert_eq!(files.purge_expired(now).await.unwrap(), 0);
    assert_eq!(
        files
            .purge_expired(now + chrono::Duration::days(31))
            .await
            .unwrap(),
        1
    );
    assert!(files.trash(&ana, &space.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_journal_has_a_rising_cursor_and_pages() {
    let (fixture, files, ana) = setup().await;
    let mut events = fixture.bus.subscribe();
    let space = files.personal_space(&ana).await.unwrap();
    files.create_folder(&ana, &space.id, "/d").await.unwrap();
    let f = files
        .write_bytes(&ana, &space.id, "/d/f", b"1", None)
        .await
        .unwrap();
    files.move_node(&ana, &f.node.id, "/g").await.unwrap();
    files.delete(&ana, &f.node.id).await.unwrap();
    let page = files.changes(&ana, &space.id, None, 100).await.unwrap();
    let seen: Vec<_> = page
        .changes
        .iter()
        .map(|c| (c.cursor, c.action, c.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, ChangeAction::Created, "/d"),
            (2, ChangeAction::Created, "/d/f"),
            (3, ChangeAction::Moved, "/g"),
            (4, ChangeAction::Deleted, "/g"),
        ]
    );
    assert_eq!(page.changes[2].from_path.as_deref(), Some("/d/f"));
    assert_eq!(page.epoch, space.epoch);
    assert!(!page.has_more);
    let first = files.changes(&ana, &space.id, Some("1"), 2).await.unwrap();
    assert_eq!(first.cursor, 3);
    assert!(first.has_more);
    assert!(matches!(
        files.changes(&ana, &space.id, Some("99"), 10).await,
        Err(FilesError::StaleCursor)
    ));
    assert!(matches!(
        files.changes(&ana, &space.id, Some("abc"), 10).await,
        Err(FilesError::Invalid(_))
    ));
    // Each journal row went on the bus.
    let mut cursors = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind == events::FILE_CHANGED {
            cursors.push(event.data_as::<Change>().unwrap().cursor);
        }
    }
    assert_eq!(cursors, [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_full_quota_refuses_uploads_and_photos_see_files_bytes() {
    let fixture = Fixture::new().await;
    // Media as files registered itself with (the app builds them the same way).
    let media = fixture.media();
    let files = FilesService::new(
        fixture.db.clone(),
        media.clone(),
        fixture.auth.clone(),
        fixture.bus.clone(),
        FilesConfig::default(),
    );
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    let space = files.personal_space(&ana).await.unwrap();
    files
        .write_bytes(&ana, &space.id, "/a", &[1; 2048], None)
        .await
        .unwrap();
    // Media's budget now includes files' bytes: the room left for photos is smaller.
    let budget = media.ingest_budget(&ana).await.unwrap();
    let quota = budget.quota.unwrap();
    assert_eq!(
        quota.quota,
        fixture
            .auth
            .storage_quota_bytes(&ana.community_id)
            .await
            .unwrap()
            - 2048
    );
    query("UPDATE communities SET storage_quota_gb = 0 WHERE id = $1")
        .bind(&ana.community_id)
        .execute(&fixture.db)
        .await
        .unwrap();
    let refused = files.write_bytes(&ana, &space.id, "/b", b"x", None).await;
    assert!(
        matches!(
            refused,
            Err(FilesError::Media(MediaError::QuotaExceeded { .. }))
        ),
        "{refused:?}"
    );
    assert!(matches!(
        files.check_room(&ana, &space.id, 1).await,
        Err(FilesError::Media(MediaError::QuotaExceeded { .. }))
    ));
}

#[tokio::test]
async fn app_passwords_sign_in_to_webdav_until_revoked() {
    let (fixture, files, ana) = setup().await;
    let (password, secret) = files.create_app_password(&ana, "laptop").await.unwrap();
    assert_eq!(files.app_passwords(&ana).await.unwrap()[0].name, "laptop");
    let principal = files
        .authenticate_app_password(&ana.user_id, "ANA@example.org", &secret)
        .await
        .unwrap();
    assert_eq!(principal.user_id, ana.user_id);
    for (email, secret) in [
        ("ana@example.org", PASSWORD),
        ("ana@example.org", "wrong"),
        ("bia@example.org", secret.as_str()),
    ] {
        assert!(
            matches!(
                files
                    .authenticate_app_password(&ana.user_id, email, secret)
                    .await,
                Err(FilesError::BadAppPassword)
            ),
            "{email} {secret}"
        );
    }
    assert!(files.app_passwords(&ana).await.unwrap()[0]
        .last_used_at
        .is_some());
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    assert!(matches!(
        files.revoke_app_password(&bia, &password.id).await,
        Err(FilesError::NotFound)
    ));
    files.revoke_app_password(&ana, &password.id).await.unwrap();
    assert!(matches!(
        files
            .authenticate_app_password(&ana.user_id, "ana@example.org", &secret)
            .await,
        Err(FilesError::BadAppPassword)
    ));
}

#[tokio::test]
async fn search_finds_live_names_only() {
    let (_fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    files
        .write_bytes(&ana, &space.id, "/Holiday 50%.jpg", b"1", None)
        .await
        .unwrap();
    let gone = files
        .write_bytes(&ana, &space.id, "/holiday_old.jpg", b"2", None)
        .await
        .unwrap();
    files.delete(&ana, &gone.node.id).await.unwrap();
    let found = files.search(&ana, &space.id, "HOLIDAY", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "/Holiday 50%.jpg");
    assert_eq!(
        files
            .search(&ana, &space.id, "50%", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(files
        .search(&ana, &space.id, "_", 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_lock_keeps_others_out_until_released_and_shows_its_holder() {
    let (fixture, files, ana) = setup().await;
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    let caio = fixture
        .invited(&ana, "caio@example.org", Role::Member)
        .await;
    let family = files.create_space(&ana, "Family").await.unwrap();
    files
        .create_folder(&ana, &family.id, "/docs")
        .await
        .unwrap();
    let doc = files
        .write_bytes(&ana, &family.id, "/docs/plan.txt", b"v1", None)
        .await
        .unwrap()
        .node;

    let lock = files
        .lock_node(&bia, &doc.id, Some(10), Some("Writer on the laptop"))
        .await
        .unwrap();
    assert_eq!(lock.holder, bia.user_id);
    assert!(!lock.deep);
    // Everyone who can see the file sees who is editing it.
    let seen = files.locks(&caio, &doc.id).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].holder, bia.user_id);
    assert_eq!(seen[0].note.as_deref(), Some("Writer on the laptop"));

    let locked = |r: &Result<_, FilesError>| matches!(r, Err(FilesError::Locked { holder }) if *holder == bia.user_id);
    assert!(locked(
        &files
            .write_bytes(&ana, &family.id, "/docs/plan.txt", b"v2", None)
            .await
            .map(|_| ())
    ));
    assert!(locked(
        &files
            .move_node(&ana, &doc.id, "/plan.txt")
            .await
            .map(|_| ())
    ));
    assert!(locked(&files.delete(&caio, &doc.id).await));
    assert!(locked(
        &files
            .lock_node(&caio, &doc.id, None, None)
            .await
            .map(|_| ())
    ));
    // The holder writes (from any of her devices); the file beside it is not locked.
    files
        .write_bytes(&bia, &family.id, "/docs/plan.txt", b"v2", None)
        .await
        .unwrap();
    files
        .write_bytes(&caio, &family.id, "/docs/other.txt", b"o", None)
        .await
        .unwrap();
    // Locking again extends the same lock.
    let again = files
        .lock_node(&bia, &doc.id, Some(20), None)
        .await
        .unwrap();
    assert_eq!(again.token, lock.token);
    assert!(again.expires_at > lock.expires_at);

    // Another member cannot release it; an admin can.
    assert!(!files.unlock_node(&caio, &doc.id).await.unwrap());
    assert!(files.unlock_node(&ana, &doc.id).await.unwrap());
    assert!(files.locks(&caio, &doc.id).await.unwrap().is_empty());
    files
        .write_bytes(&caio, &family.id, "/docs/plan.txt", b"v3", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_folder_lock_covers_what_is_below_and_expired_locks_bind_nobody() {
    let (fixture, files, ana) = setup().await;
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    let family = files.create_space(&ana, "Family").await.unwrap();
    let docs = files
        .create_folder(&ana, &family.id, "/docs")
        .await
        .unwrap();
    files
        .create_folder(&ana, &family.id, "/docs/deep")
        .await
        .unwrap();
    let lock = files.lock_node(&ana, &docs.id, None, None).await.unwrap();
    assert!(lock.deep);

    for refused in [
        files
            .write_bytes(&bia, &family.id, "/docs/new.txt", b"n", None)
            .await
            .map(|_| ()),
        files
            .write_bytes(&bia, &family.id, "/docs/deep/new.txt", b"n", None)
            .await
            .map(|_| ()),
        files
            .create_folder(&bia, &family.id, "/docs/deep/more")
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(FilesError::Locked { .. })),
            "{refused:?}"
        );
    }
    let deep = files
        .node_by_path(&bia, &family.id, "/docs/deep")
        .await
        .unwrap();
    assert_eq!(
        files.locks(&bia, &deep.id).await.unwrap().len(),
        1,
        "the folder's lock shows below it"
    );

    query("UPDATE files.locks SET expires_at = $1")
        .bind(chrono::Utc::now() - chrono::Duration::minutes(1))
        .execute(&fixture.db)
        .await
        .unwrap();
    assert!(files.locks(&bia, &deep.id).await.unwrap().is_empty());
    files
        .write_bytes(&bia, &family.id, "/docs/deep/new.txt", b"n", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn dead_properties_follow_moves_apply_in_order_and_are_bounded() {
    use super::properties::{Property, MAX_PROPERTIES, MAX_PROPERTY_BYTES};
    let (_fixture, files, ana) = setup().await;
    let space = files.personal_space(&ana).await.unwrap();
    files
        .write_bytes(&ana, &space.id, "/a.txt", b"a", None)
        .await
        .unwrap();
    let prop = |name: &str, value: &str| Property {
        namespace: "urn:test".into(),
        name: name.into(),
        prefix: Some("t".into()),
        xml: format!("<t:{name} xmlns:t=\"urn:test\">{value}</t:{name}>").into_bytes(),
    };
    // In order: set then remove of `gone` leaves nothing, remove then set of `kept` keeps it.
    files
        .patch_properties(
            &ana,
            &space,
            "/a.txt",
            vec![
                (true, prop("gone", "1")),
                (false, prop("gone", "")),
                (false, prop("kept", "")),
                (true, prop("kept", "2")),
            ],
        )
        .await
        .unwrap();
    let node = files.node_by_path(&ana, &space.id, "/a.txt").await.unwrap();
    files.move_node(&ana, &node.id, "/b.txt").await.unwrap();
    let props = files.properties(&ana, &space, "/b.txt").await.unwrap();
    assert_eq!(props, vec![prop("kept", "2")]);

    let huge = Property {
        xml: vec![b'x'; MAX_PROPERTY_BYTES + 1],
        ..prop("huge", "")
    };
    let many: Vec<(bool, Property)> = (0..MAX_PROPERTIES)
        .map(|i| (true, prop(&format!("p{i}"), "v")))
        .collect();
    for refused in [vec![(true, huge)], many] {
        assert!(matches!(
            files
                .patch_properties(&ana, &space, "/b.txt", refused)
                .await,
            Err(FilesError::Invalid(_))
        ));
    }
    // Nothing of a refused patch was kept.
    assert_eq!(
        files
            .properties(&ana, &space, "/b.txt")
            .await
            .unwrap()
            .len(),
        1
    );
}
