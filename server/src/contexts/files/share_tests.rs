//! Share tests: the permission matrix (actors × operations) and the resharing rules, on
//! `db::testing`'s fixture (SQLite in memory, or PostgreSQL with `TEST_DATABASE_URL`).

use chrono::{Duration, Utc};

use super::*;
use crate::config::FilesConfig;
use crate::contexts::auth::{Principal, Role};
use crate::db::query;
use crate::db::testing::{insert_community, insert_user, Fixture};
use crate::ids::{SessionId, ShareId, SpaceId};

#[derive(Clone, Copy, Debug)]
enum Op {
    List,
    Read,
    Write,
    Mkdir,
    Delete,
    Move,
    MoveOut,
    Share,
}

const OPS: [Op; 8] = [
    Op::List,
    Op::Read,
    Op::Write,
    Op::Mkdir,
    Op::Delete,
    Op::Move,
    Op::MoveOut,
    Op::Share,
];

/// A folder the matrix acts in: `file` inside it, `out` a folder of the same space outside it.
struct Place {
    space: SpaceId,
    folder: Node,
    file: Node,
    out: String,
}

struct World {
    files: FilesService,
    owner: Principal,
}

impl World {
    /// A fresh file in the place, made by its owner.
    async fn fresh_file(&self, place: &Place, n: usize) -> Node {
        let path = format!("{}/fresh-{n}.txt", place.folder.path);
        self.files
            .write_bytes(&self.owner, &place.space, &path, b"fresh", None)
            .await
            .unwrap()
            .node
    }

    /// Whether `by` may do `op` in `place`.
    async fn attempt(&self, by: &Principal, op: Op, place: &Place, n: usize) -> bool {
        let files = &self.files;
        let folder = &place.folder.path;
        match op {
            Op::List => files.list(by, &place.folder.id, None, 100).await.is_ok(),
            Op::Read => files.read(by, &place.file.id, None, None).await.is_ok(),
            Op::Write => files
                .write_bytes(
                    by,
                    &place.space,
                    &format!("{folder}/new-{n}.txt"),
                    b"n",
                    None,
                )
                .await
                .is_ok(),
            Op::Mkdir => files
                .create_folder(by, &place.space, &format!("{folder}/dir-{n}"))
                .await
                .is_ok(),
            Op::Delete => {
                let fresh = self.fresh_file(place, n).await;
                files.delete(by, &fresh.id).await.is_ok()
            }
            Op::Move => {
                let fresh = self.fresh_file(place, n).await;
                files
                    .move_node(by, &fresh.id, &format!("{folder}/moved-{n}.txt"))
                    .await
                    .is_ok()
            }
            Op::MoveOut => {
                let fresh = self.fresh_file(place, n).await;
                let to = format!("{}/out-{n}.txt", place.out.trim_end_matches('/'));
                files.move_node(by, &fresh.id, &to).await.is_ok()
            }
            Op::Share => files
                .create_share(
                    by,
                    NewShare {
                        node_id: place.folder.id.clone(),
                        target: NewShareTarget::Link,
                        permission: SharePermission::Read,
                        password: None,
                        expires_at: None,
                        may_reshare: false,
                    },
                )
                .await
                .is_ok(),
        }
    }
}

fn share_with(node: &Node, target: NewShareTarget, permission: SharePermission) -> NewShare {
    NewShare {
        node_id: node.id.clone(),
        target,
        permission,
        password: None,
        expires_at: None,
        may_reshare: false,
    }
}

/// A user of another community.
async fn outsider(fixture: &Fixture) -> Principal {
    let community_id = insert_community(&fixture.db).await;
    let user_id = insert_user(&fixture.db, &community_id).await;
    Principal {
        user_id,
        community_id,
        role: Role::Member,
        session_id: SessionId::from("outsider-session"),
        email: "olga@other.example.org".into(),
        expires_at: Utc::now() + Duration::hours(1),
    }
}

#[tokio::test]
async fn the_share_permission_matrix() {
    let fixture = Fixture::new().await;
    let files = fixture.files(FilesConfig::default());
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    let gus = fixture.invited(&ana, "gus@example.org", Role::Guest).await;
    let rui = fixture.invited(&ana, "rui@example.org", Role::Member).await;
    let wil = fixture.invited(&ana, "wil@example.org", Role::Member).await;
    let eve = fixture.invited(&ana, "eve@example.org", Role::Member).await;
    let olga = outsider(&fixture).await;

    let personal = files.personal_space(&ana).await.unwrap().id;
    let mut places = Vec::new();
    for name in ["Shared", "Community", "Private"] {
        let folder = files
            .create_folder(&ana, &personal, &format!("/{name}"))
            .await
            .unwrap();
        let file = files
            .write_bytes(&ana, &personal, &format!("/{name}/a.txt"), b"a", None)
            .await
            .unwrap()
            .node;
        places.push(Place {
            space: personal.clone(),
            folder,
            file,
            out: "/".into(),
        });
    }
    let family = files.create_space(&ana, "Family").await.unwrap();
    let docs = files
        .create_folder(&ana, &family.id, "/Docs")
        .await
        .unwrap();
    let doc = files
        .write_bytes(&ana, &family.id, "/Docs/d.txt", b"d", None)
        .await
        .unwrap()
        .node;
    places.push(Place {
        space: family.id.clone(),
        folder: docs,
        file: doc,
        out: "/".into(),
    });
    let (shared, community, private, family_docs) =
        (&places[0], &places[1], &places[2], &places[3]);

    let user = |p: &Principal| NewShareTarget::User(p.user_id.clone());
    files
        .create_share(
            &ana,
            share_with(&shared.folder, user(&rui), SharePermission::Read),
        )
        .await
        .unwrap();
    files
        .create_share(
            &ana,
            NewShare {
                may_reshare: true,
                ..share_with(&shared.folder, user(&wil), SharePermission::Write)
            },
        )
        .await
        .unwrap();
    let expired = files
        .create_share(
            &ana,
            NewShare {
                expires_at: Some(Utc::now() + Duration::hours(1)),
                ..share_with(&shared.folder, user(&eve), SharePermission::Write)
            },
        )
        .await
        .unwrap();
    query("UPDATE files.shares SET expires_at = $1 WHERE id = $2")
        .bind(Utc::now() - Duration::minutes(1))
        .bind(&expired.id)
        .execute(&fixture.db)
        .await
        .unwrap();
    files
        .create_share(
            &ana,
            share_with(
                &community.folder,
                NewShareTarget::Community,
                SharePermission::Read,
            ),
        )
        .await
        .unwrap();

    // What each actor may do: list, read, write, mkdir, delete, move, move out, share.
    const ALL: [bool; 8] = [true; 8];
    const NONE: [bool; 8] = [false; 8];
    const READ: [bool; 8] = [true, true, false, false, false, false, false, false];
    const WRITE_AND_RESHARE: [bool; 8] = [true, true, true, true, true, true, false, true];
    let matrix: Vec<(&str, &Principal, &Place, [bool; 8])> = vec![
        ("owner", &ana, shared, ALL),
        ("same-community member", &bia, shared, NONE),
        ("guest", &gus, shared, NONE),
        ("other community", &olga, shared, NONE),
        ("user grantee read", &rui, shared, READ),
        ("user grantee write", &wil, shared, WRITE_AND_RESHARE),
        ("expired share", &eve, shared, NONE),
        ("grantee outside its share", &wil, private, NONE),
        ("owner outside any share", &ana, private, ALL),
        ("member through a community share", &bia, community, READ),
        ("guest through a community share", &gus, community, READ),
        ("other community, community share", &olga, community, NONE),
        ("member in a community space", &bia, family_docs, ALL),
        ("guest in a community space", &gus, family_docs, READ),
        (
            "other community in a community space",
            &olga,
            family_docs,
            NONE,
        ),
    ];
    let world = World {
        files: files.clone(),
        owner: ana.clone(),
    };
    let mut n = 0;
    let mut wrong = Vec::new();
    for (actor, by, place, expected) in &matrix {
        for (op, allowed) in OPS.iter().zip(expected) {
            n += 1;
            let got = world.attempt(by, *op, place, n).await;
            if got != *allowed {
                wrong.push(format!("{actor} {op:?}: allowed {got}, expected {allowed}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn grantees_reach_the_shared_subtree_by_id_and_path_only() {
    let fixture = Fixture::new().await;
    let files = fixture.files(FilesConfig::default());
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    let rui = fixture.invited(&ana, "rui@example.org", Role::Member).await;
    let space = files.personal_space(&ana).await.unwrap().id;
    let shared = files.create_folder(&ana, &space, "/Shared").await.unwrap();
    let inside = files
        .write_bytes(&ana, &space, "/Shared/in.txt", b"in", None)
        .await
        .unwrap()
        .node;
    let outside = files
        .write_bytes(&ana, &space, "/out.txt", b"out", None)
        .await
        .unwrap()
        .node;
    let share = files
        .create_share(
            &ana,
            share_with(
                &shared,
                NewShareTarget::User(rui.user_id.clone()),
                SharePermission::Read,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        files.node(&rui, &inside.id).await.unwrap().path,
        "/Shared/in.txt"
    );
    assert_eq!(
        files
            .node_by_path(&rui, &space, "/shared/IN.txt")
            .await
            .unwrap()
            .id,
        inside.id
    );
    for missing in [
        files.node(&rui, &outside.id).await,
        files.node_by_path(&rui, &space, "/out.txt").await,
        files.node_by_path(&rui, &space, "/").await,
    ] {
        assert!(matches!(missing, Err(FilesError::NotFound)));
    }
    assert!(matches!(
        files.changes(&rui, &space, None, 10).await,
        Err(FilesError::NotFound)
    ));
    let mine = files.shared_with_me(&rui).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1.id, shared.id);
    assert!(files.shared_with_me(&ana).await.unwrap().is_empty());
    // The owner sees the share; the grantee (not its creator) does not.
    assert_eq!(files.shares(&ana, &shared.id).await.unwrap().len(), 1);
    assert!(files.shares(&rui, &shared.id).await.unwrap().is_empty());
    assert!(matches!(
        files.delete_share(&rui, &share.id).await,
        Err(FilesError::NotFound)
    ));
    files.delete_share(&ana, &share.id).await.unwrap();
    assert!(matches!(
        files.node(&rui, &inside.id).await,
        Err(FilesError::NotFound)
    ));
    assert!(matches!(
        files.delete_share(&ana, &ShareId::new()).await,
        Err(FilesError::NotFound)
    ));
}

#[tokio::test]
async fn resharing_never_gives_more_than_is_held() {
    let fixture = Fixture::new().await;
    let files = fixture.files(FilesConfig::default());
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    let rui = fixture.invited(&ana, "rui@example.org", Role::Member).await;
    let rosa = fixture
        .invited(&ana, "rosa@example.org", Role::Member)
        .await;
    let bia = fixture.invited(&ana, "bia@example.org", Role::Member).await;
    let gus = fixture.invited(&ana, "gus@example.org", Role::Guest).await;
    let olga = outsider(&fixture).await;
    let space = files.personal_space(&ana).await.unwrap().id;
    let folder = files.create_folder(&ana, &space, "/Shared").await.unwrap();
    let to = |p: &Principal| NewShareTarget::User(p.user_id.clone());

    // Read without resharing: no share at all.
    files
        .create_share(&ana, share_with(&folder, to(&rui), SharePermission::Read))
        .await
        .unwrap();
    assert!(matches!(
        files
            .create_share(&rui, share_with(&folder, to(&bia), SharePermission::Read))
            .await,
        Err(FilesError::MayNotShare(_))
    ));
    // Read with resharing: read onward, never write.
    files
        .create_share(
            &ana,
            NewShare {
                may_reshare: true,
                ..share_with(&folder, to(&rosa), SharePermission::Read)
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        files
            .create_share(&rosa, share_with(&folder, to(&bia), SharePermission::Write))
            .await,
        Err(FilesError::MayNotShare(_))
    ));
    let onward = files
        .create_share(&rosa, share_with(&folder, to(&bia), SharePermission::Read))
        .await
        .unwrap();
    assert_eq!(onward.created_by, rosa.user_id);
    assert!(files.node(&bia, &folder.id).await.is_ok());
    // The reshare's creator sees and removes it; the owner sees it too.
    assert_eq!(files.shares(&rosa, &folder.id).await.unwrap().len(), 1);
    assert_eq!(files.shares(&ana, &folder.id).await.unwrap().len(), 3);

    // Guests: read only, and never resharing.
    assert!(matches!(
        files
            .create_share(&ana, share_with(&folder, to(&gus), SharePermission::Write))
            .await,
        Err(FilesError::Invalid(_))
    ));
    files
        .create_share(
            &ana,
            NewShare {
                may_reshare: true,
                ..share_with(&folder, to(&gus), SharePermission::Read)
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        files
            .create_share(&gus, share_with(&folder, to(&bia), SharePermission::Read))
            .await,
        Err(FilesError::GuestsMayNot(_))
    ));
    // Users of other communities are not found; links reach them instead.
    assert!(matches!(
        files
            .create_share(&ana, share_with(&folder, to(&olga), SharePermission::Read))
            .await,
        Err(FilesError::NotFound)
    ));
    // Shapes a share cannot have.
    assert!(matches!(
        files
            .create_share(
                &ana,
                share_with(&folder, to(&bia), SharePermission::UploadOnly)
            )
            .await,
        Err(FilesError::Invalid(_))
    ));
    assert!(matches!(
        files
            .create_share(&ana, share_with(&folder, to(&ana), SharePermission::Read))
            .await,
        Err(FilesError::Invalid(_))
    ));
    let past = NewShare {
        expires_at: Some(Utc::now() - Duration::minutes(1)),
        ..share_with(&folder, NewShareTarget::Link, SharePermission::Read)
    };
    assert!(matches!(
        files.create_share(&ana, past).await,
        Err(FilesError::Invalid(_))
    ));
    let link = files
        .create_share(
            &ana,
            share_with(&folder, NewShareTarget::Link, SharePermission::Write),
        )
        .await
        .unwrap();
    assert!(link.token.as_ref().is_some_and(|t| t.len() >= 21));
    assert!(!link.may_reshare);
}

#[tokio::test]
async fn grantees_stay_inside_one_share_and_a_file_share_writes_versions_only() {
    let fixture = Fixture::new().await;
    let files = fixture.files(FilesConfig::default());
    let ana = fixture.sign_up("ana@example.org", Some("Family")).await;
    let wil = fixture.invited(&ana, "wil@example.org", Role::Member).await;
    let space = files.personal_space(&ana).await.unwrap().id;
    let one = files.create_folder(&ana, &space, "/One").await.unwrap();
    let two = files.create_folder(&ana, &space, "/Two").await.unwrap();
    files.create_folder(&ana, &space, "/Hidden").await.unwrap();
    let to_wil = NewShareTarget::User(wil.user_id.clone());
    for folder in [&one, &two] {
        files
            .create_share(
                &ana,
                share_with(folder, to_wil.clone(), SharePermission::Write),
            )
            .await
            .unwrap();
    }
    let moving = files
        .write_bytes(&wil, &space, "/One/m.txt", b"m", None)
        .await
        .unwrap()
        .node;
    assert!(matches!(
        files.move_node(&wil, &moving.id, "/Two/m.txt").await,
        Err(FilesError::OutsideShare)
    ));
    assert!(matches!(
        files.copy_node(&wil, &moving.id, "/Two/m.txt").await,
        Err(FilesError::OutsideShare)
    ));
    files
        .move_node(&wil, &moving.id, "/One/renamed.txt")
        .await
        .unwrap();
    // The shared folder itself is the owner's to move or delete.
    assert!(matches!(
        files.delete(&wil, &one.id).await,
        Err(FilesError::Forbidden)
    ));
    assert!(matches!(
        files.move_node(&wil, &one.id, "/One2").await,
        Err(FilesError::Forbidden)
    ));
    // A missing folder inside the share is `ParentMissing`; outside it, nothing is there.
    assert!(matches!(
        files.create_folder(&wil, &space, "/One/no/such").await,
        Err(FilesError::ParentMissing)
    ));
    assert!(matches!(
        files.create_folder(&wil, &space, "/Hidden/no/such").await,
        Err(FilesError::NotFound)
    ));
    assert!(matches!(
        files.create_folder(&wil, &space, "/Hidden/x").await,
        Err(FilesError::NotFound)
    ));

    // Write on a single file: new versions of it, nothing beside it, no deleting it.
    let file = files
        .write_bytes(&ana, &space, "/Hidden/f.txt", b"v1", None)
        .await
        .unwrap()
        .node;
    files
        .create_share(&ana, share_with(&file, to_wil, SharePermission::Write))
        .await
        .unwrap();
    let written = files
        .write_bytes(&wil, &space, "/Hidden/f.txt", b"v2", None)
        .await
        .unwrap();
    assert_eq!(written.node.id, file.id);
    assert_eq!(files.versions(&wil, &file.id).await.unwrap().len(), 2);
    assert!(matches!(
        files
            .write_bytes(&wil, &space, "/Hidden/g.txt", b"g", None)
            .await,
        Err(FilesError::NotFound)
    ));
    assert!(matches!(
        files.delete(&wil, &file.id).await,
        Err(FilesError::Forbidden)
    ));
}
