//! Service tests on `db::testing`'s fixture (SQLite in memory, or PostgreSQL with
//! `TEST_DATABASE_URL`), over media files ffmpeg generates here (`testsrc`/`sine`, a few
//! seconds each). Without ffmpeg they are skipped with a note; `scripts/test` installs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::events::{
    LibraryChange, LibraryChanged, WatchProgress, LIBRARY_CHANGED, WATCH_PROGRESS,
};
use super::profile::Method;
use super::watch::Report;
use super::*;
use crate::config::StreamingConfig;
use crate::contexts::auth::{Principal, Role};
use crate::db::testing::Fixture;
use crate::ids::ItemId;

/// Runs ffmpeg to make a fixture; false when ffmpeg is not installed.
fn ffmpeg(args: &[&str]) -> bool {
    match std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "ffmpeg {args:?} failed");
            true
        }
        Err(_) => false,
    }
}

/// A `seconds`-long video: `video` codec (`libx264`, `libx265`) and `audio` (`aac`, `libopus`)
/// in the container `path`'s extension says.
fn video(path: &Path, seconds: u32, size: &str, video: &str, audio: &str) -> bool {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let source = format!("testsrc=duration={seconds}:size={size}:rate=25");
    let tone = format!("sine=frequency=440:duration={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        &tone,
        "-c:v",
        video,
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        audio,
        "-shortest",
        path.to_str().unwrap(),
    ])
}

fn song(path: &Path, title: &str, track: &str) -> bool {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:duration=2",
        "-c:a",
        "libmp3lame",
        "-metadata",
        &format!("title={title}"),
        "-metadata",
        "artist=Banda Teste",
        "-metadata",
        "album=Primeiro Disco",
        "-metadata",
        &format!("track={track}"),
        path.to_str().unwrap(),
    ])
}

const SRT: &str = "1\n00:00:00,500 --> 00:00:02,000\nOlá, mundo\n\n2\n00:00:02,500 --> 00:00:03,500\nSegunda linha\n";

fn config() -> StreamingConfig {
    StreamingConfig {
        scan_on_start: false,
        watch: false,
        segment_seconds: 2,
        ..StreamingConfig::default()
    }
}

struct Setup {
    fixture: Fixture,
    service: StreamingService,
    admin: Principal,
    root: tempfile::TempDir,
}

async fn setup(config: StreamingConfig) -> Setup {
    let fixture = Fixture::new().await;
    let service = StreamingService::new(
        fixture.db.clone(),
        fixture.bus.clone(),
        config,
        fixture.data_dir.path(),
        b"unit tests: a server secret of at least thirty-two bytes",
    );
    let admin = fixture.sign_up("ana@example.org", Some("Family")).await;
    Setup {
        fixture,
        service,
        admin,
        root: tempfile::tempdir().unwrap(),
    }
}

/// Waits for the library's scan to finish (the service scans in the background).
async fn scanned(service: &StreamingService, library: &Library) {
    for _ in 0..600 {
        if !service.scanning(&library.id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the scan did not finish in 30 s");
}

async fn all_items(service: &StreamingService, by: &Principal, library: &Library) -> Vec<Item> {
    let filter = ItemFilter {
        search: None,
        include_missing: true,
        ..ItemFilter::default()
    };
    let mut items = Vec::new();
    for kind in [
        ItemKind::Movie,
        ItemKind::Show,
        ItemKind::Season,
        ItemKind::Episode,
        ItemKind::Album,
        ItemKind::Track,
        ItemKind::Video,
    ] {
        let filter = ItemFilter {
            kind: Some(kind),
            ..filter.clone()
        };
        let page = service
            .items(by, &library.id, &filter, Some(MAX_PAGE), None)
            .await
            .unwrap();
        items.extend(page.items);
    }
    items
}

fn browser() -> serde_json::Value {
    serde_json::json!({
        "name": "Chrome",
        "containers": ["mp4", "webm"],
        "videoCodecs": ["h264", "vp9", "av1"],
        "audioCodecs": ["aac", "mp3", "opus", "flac"]
    })
}

#[tokio::test]
async fn a_scan_files_movies_shows_and_music_and_rescans_incrementally() {
    let s = setup(config()).await;
    let movies = s.root.path().join("movies");
    if !video(
        &movies.join("Fixture Film (2019).mp4"),
        3,
        "320x240",
        "libx264",
        "aac",
    ) {
        eprintln!("ffmpeg is not installed: skipped");
        return;
    }
    video(
        &movies.join("Other.Movie.2021.1080p.mkv"),
        3,
        "320x240",
        "libx264",
        "aac",
    );
    std::fs::write(movies.join("Other.Movie.2021.1080p.pt.srt"), SRT).unwrap();
    let mut events = s.fixture.bus.subscribe();
    let library = s
        .service
        .add_library(
            &s.admin,
            "Filmes",
            movies.to_str().unwrap(),
            LibraryKind::Movies,
        )
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let items = all_items(&s.service, &s.admin, &library).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let film = items.iter().find(|i| i.title == "Fixture Film").unwrap();
    assert_eq!((film.kind, film.year), (ItemKind::Movie, Some(2019)));
    assert_eq!(film.container.as_deref(), Some("mp4"));
    assert!(
        (2_900..=3_200).contains(&film.duration_ms.unwrap()),
        "{:?}",
        film.duration_ms
    );
    assert!(film.has_poster && film.strip_interval_ms == Some(1_000));
    let other = items.iter().find(|i| i.title == "Other Movie").unwrap();
    assert_eq!(other.year, Some(2021));
    let subtitles = other.subtitles();
    assert_eq!(subtitles.len(), 1);
    assert_eq!(subtitles[0].language.as_deref(), Some("pt"));
    assert!(!subtitles[0].burn_in_only);

    // The bus saw the scan start, each item added and the scan finish.
    let mut changes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind == LIBRARY_CHANGED {
            changes.push(event.data_as::<LibraryChanged>().unwrap().change);
        }
    }
    assert_eq!(changes.first(), Some(&LibraryChange::ScanStarted));
    assert_eq!(changes.last(), Some(&LibraryChange::ScanFinished));
    assert_eq!(
        changes
            .iter()
            .filter(|c| **c == LibraryChange::ItemAdded)
            .count(),
        2
    );

    // Unchanged files are not read again; a changed one keeps its id; a removed one is missing.
    let before = s.service.item(&s.admin, &film.id).await.unwrap();
    std::fs::remove_file(movies.join("Other.Movie.2021.1080p.mkv")).unwrap();
    video(
        &movies.join("Fixture Film (2019).mp4"),
        4,
        "320x240",
        "libx264",
        "aac",
    );
    let mut events = s.fixture.bus.subscribe();
    s.service.scan_library(&s.admin, &library.id).await.unwrap();
    scanned(&s.service, &library).await;
    let finished = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| e.kind == LIBRARY_CHANGED)
        .map(|e| e.data_as::<LibraryChanged>().unwrap())
        .find(|c| c.change == LibraryChange::ScanFinished)
        .unwrap();
    assert_eq!(
        (
            finished.counts.added,
            finished.counts.updated,
            finished.counts.missing
        ),
        (0, 1, 1)
    );
    let after = s.service.item(&s.admin, &film.id).await.unwrap();
    assert_eq!(after.id, before.id);
    assert!(after.duration_ms.unwrap() > 3_500);
    let gone = s.service.item(&s.admin, &other.id).await.unwrap();
    assert!(gone.missing_since.is_some());
    let listed = s
        .service
        .items(&s.admin, &library.id, &ItemFilter::default(), None, None)
        .await
        .unwrap();
    assert_eq!(listed.total, 1, "missing items are hidden from listings");
    // A third scan with nothing changed reads nothing.
    s.service.scan_library(&s.admin, &library.id).await.unwrap();
    scanned(&s.service, &library).await;
    assert_eq!(
        s.service.item(&s.admin, &film.id).await.unwrap().updated_at,
        after.updated_at
    );
    // An admin confirms the removal.
    assert_eq!(
        s.service
            .remove_missing(&s.admin, &library.id)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        s.service.item(&s.admin, &other.id).await,
        Err(StreamingError::NotFound)
    ));
}

#[tokio::test]
async fn shows_group_into_seasons_and_music_into_albums() {
    let s = setup(config()).await;
    let shows = s.root.path().join("shows");
    if !video(
        &shows.join("Fixture Show/Season 1/Fixture Show - S01E01.mkv"),
        2,
        "160x120",
        "libx264",
        "aac",
    ) {
        return;
    }
    video(
        &shows.join("Fixture Show/Season 1/Fixture Show - S01E02 - The Second.mkv"),
        2,
        "160x120",
        "libx264",
        "aac",
    );
    video(
        &shows.join("Fixture Show/Season 2/Fixture.Show.S02E01.mkv"),
        2,
        "160x120",
        "libx264",
        "aac",
    );
    let library = s
        .service
        .add_library(
            &s.admin,
            "Séries",
            shows.to_str().unwrap(),
            LibraryKind::Shows,
        )
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let top = s
        .service
        .items(&s.admin, &library.id, &ItemFilter::default(), None, None)
        .await
        .unwrap();
    assert_eq!(top.items.len(), 1);
    let show = &top.items[0];
    assert_eq!(
        (show.kind, show.title.as_str()),
        (ItemKind::Show, "Fixture Show")
    );
    let children = |parent: &ItemId| ItemFilter {
        parent_id: Some(parent.clone()),
        ..ItemFilter::default()
    };
    let seasons = s
        .service
        .items(&s.admin, &library.id, &children(&show.id), None, None)
        .await
        .unwrap()
        .items;
    let titles: Vec<_> = seasons.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["Season 1", "Season 2"]);
    let episodes = s
        .service
        .items(&s.admin, &library.id, &children(&seasons[0].id), None, None)
        .await
        .unwrap()
        .items;
    let numbered: Vec<_> = episodes
        .iter()
        .map(|e| (e.episode_number, e.title.as_str()))
        .collect();
    assert_eq!(numbered, [(Some(1), "Episode 1"), (Some(2), "The Second")]);

    // Next up follows what the user played.
    let e1 = &episodes[0];
    s.service.mark_played(&s.admin, &e1.id, true).await.unwrap();
    let next = s.service.next_up(&s.admin, None).await.unwrap();
    assert_eq!(
        next.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&episodes[1].id]
    );
    s.service
        .mark_played(&s.admin, &seasons[0].id, true)
        .await
        .unwrap();
    let next = s.service.next_up(&s.admin, None).await.unwrap();
    assert_eq!(next[0].season_number, Some(2));
    // Search finds an episode by title across the library.
    let found = s
        .service
        .items(
            &s.admin,
            &library.id,
            &ItemFilter {
                search: Some("second".into()),
                ..ItemFilter::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);

    let music = s.root.path().join("music");
    song(
        &music.join("Banda/Disco/01 - a.mp3"),
        "Primeira Canção",
        "1/2",
    );
    song(&music.join("Banda/Disco/02 - b.mp3"), "Segunda", "2/2");
    let library = s
        .service
        .add_library(
            &s.admin,
            "Música",
            music.to_str().unwrap(),
            LibraryKind::Music,
        )
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let albums = s
        .service
        .items(&s.admin, &library.id, &ItemFilter::default(), None, None)
        .await
        .unwrap()
        .items;
    assert_eq!(albums.len(), 1);
    assert_eq!(albums[0].kind, ItemKind::Album);
    assert_eq!(albums[0].title, "Primeiro Disco");
    assert_eq!(albums[0].artist.as_deref(), Some("Banda Teste"));
    let tracks = s
        .service
        .items(&s.admin, &library.id, &children(&albums[0].id), None, None)
        .await
        .unwrap()
        .items;
    let tracks: Vec<_> = tracks
        .iter()
        .map(|t| (t.track_number, t.title.as_str()))
        .collect();
    assert_eq!(tracks, [(Some(1), "Primeira Canção"), (Some(2), "Segunda")]);
}

#[tokio::test]
async fn libraries_are_the_admins_and_stay_in_their_community() {
    let s = setup(config()).await;
    let member = s
        .fixture
        .invited(&s.admin, "bia@example.org", Role::Member)
        .await;
    let path = s.root.path().to_str().unwrap();
    assert!(matches!(
        s.service
            .add_library(&member, "x", path, LibraryKind::Movies)
            .await,
        Err(StreamingError::Forbidden)
    ));
    for bad in ["relative/path", "/nonexistent/taina/media"] {
        assert!(matches!(
            s.service
                .add_library(&s.admin, "x", bad, LibraryKind::Movies)
                .await,
            Err(StreamingError::Invalid(_))
        ));
    }
    let library = s
        .service
        .add_library(&s.admin, "Filmes", path, LibraryKind::Movies)
        .await
        .unwrap();
    assert!(matches!(
        s.service
            .add_library(&s.admin, "Again", path, LibraryKind::Movies)
            .await,
        Err(StreamingError::LibraryExists)
    ));
    // Members see it and cannot scan it; another community does not see it at all.
    assert_eq!(s.service.libraries(&member).await.unwrap().len(), 1);
    assert!(matches!(
        s.service.scan_library(&member, &library.id).await,
        Err(StreamingError::Forbidden)
    ));
    let stranger = elsewhere(&s).await;
    assert!(s.service.libraries(&stranger).await.unwrap().is_empty());
    assert!(matches!(
        s.service
            .items(&stranger, &library.id, &ItemFilter::default(), None, None)
            .await,
        Err(StreamingError::NotFound)
    ));
}

/// A member of another community.
async fn elsewhere(s: &Setup) -> Principal {
    let community = crate::db::testing::insert_community(&s.fixture.db).await;
    let user = crate::db::testing::insert_user(&s.fixture.db, &community).await;
    Principal {
        user_id: user,
        community_id: community,
        role: Role::Admin,
        session_id: "elsewhere".into(),
        email: "zoe@example.org".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    }
}

/// A scanned movie, for the playback tests.
async fn one_movie(s: &Setup, name: &str, seconds: u32, codec: &str, audio: &str) -> Option<Item> {
    let dir = s.root.path().join(format!("lib-{name}"));
    let file = dir.join(name);
    if !video(&file, seconds, "320x240", codec, audio) {
        return None;
    }
    let library = s
        .service
        .add_library(&s.admin, name, dir.to_str().unwrap(), LibraryKind::Movies)
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let page = s
        .service
        .items(&s.admin, &library.id, &ItemFilter::default(), None, None)
        .await
        .unwrap();
    page.items.into_iter().next()
}

#[tokio::test]
async fn playback_picks_direct_play_remux_or_transcode_per_device() {
    let s = setup(config()).await;
    let Some(mp4) = one_movie(&s, "direct.mp4", 2, "libx264", "aac").await else {
        return;
    };
    let mkv = one_movie(&s, "remux.mkv", 2, "libx264", "aac")
        .await
        .unwrap();
    let hevc = one_movie(&s, "hevc.mp4", 2, "libx265", "aac")
        .await
        .unwrap();
    let info = |item: Item| {
        let service = s.service.clone();
        let admin = s.admin.clone();
        async move {
            service
                .playback_info(&admin, &item.id, &browser(), None, None)
                .await
                .unwrap()
        }
    };
    let direct = info(mp4.clone()).await;
    assert_eq!(direct.decision.method, Method::DirectPlay);
    assert!(direct
        .url
        .starts_with(&format!("/api/streaming/items/{}/file?t=", mp4.id)));
    assert_eq!(direct.socket_topic, format!("item:{}", mp4.id));
    let remux = info(mkv.clone()).await;
    assert_eq!(remux.decision.method, Method::Remux);
    assert_eq!(remux.remux_container.as_deref(), Some("mp4"));
    let transcode = info(hevc).await;
    assert_eq!(transcode.decision.method, Method::Transcode);
    assert!(transcode.url.contains("/hls/master.m3u8?t="));
    assert!(matches!(
        s.service
            .playback_info(
                &s.admin,
                &mp4.id,
                &serde_json::json!({"containers": []}),
                None,
                None
            )
            .await,
        Err(StreamingError::Invalid(_))
    ));

    // The remux is an MP4 with the same streams, made once and served from the cache.
    let viewer = Viewer::Principal(&s.admin);
    let made = s.service.open_remux(&viewer, &mkv.id, "mp4").await.unwrap();
    let probed = probe::probe(&made.path, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(probed.container, "mp4");
    assert_eq!(probed.video().unwrap().codec, "h264");
    let again = s.service.open_remux(&viewer, &mkv.id, "mp4").await.unwrap();
    assert_eq!(again.etag, made.etag);
    // A signed URL opens its own item only.
    let token = direct.token.clone();
    let grant = s.service.verify_url(&token, &mp4.id).unwrap();
    assert!(s.service.verify_url(&token, &mkv.id).is_err());
    let by_url = s
        .service
        .open_file(&Viewer::Url(&grant), &mp4.id)
        .await
        .unwrap();
    assert_eq!(by_url.mime, "video/mp4");
}

#[tokio::test]
async fn hls_segments_decode_and_a_late_segment_is_made_without_the_early_ones() {
    let s = setup(config()).await;
    let Some(item) = one_movie(&s, "long.mkv", 11, "libx264", "aac").await else {
        return;
    };
    let viewer = Viewer::Principal(&s.admin);
    let master = s
        .service
        .hls_master(&viewer, &item.id, None, "?t=x")
        .await
        .unwrap();
    assert!(master.contains("240p/index.m3u8?t=x"), "{master}");
    let playlist = s
        .service
        .hls_variant(&viewer, &item.id, "240p", "")
        .await
        .unwrap();
    assert_eq!(playlist.matches("#EXTINF:").count(), 6, "{playlist}");
    assert!(
        playlist.contains("#EXTINF:2.000,\n4.ts\n") && playlist.ends_with("5.ts\n#EXT-X-ENDLIST\n")
    );

    // Seek straight to the last-but-one segment: one job, starting there.
    let late = s
        .service
        .hls_segment(&viewer, &item.id, "240p", 4, None, None)
        .await
        .unwrap();
    assert!(
        !late.with_file_name("0.ts").exists(),
        "segment 0 was not needed"
    );
    assert_eq!(s.service.inner.transcoder.counts().started, 1);
    let probed = probe::probe(&late, Duration::from_secs(10)).await.unwrap();
    assert_eq!(probed.video().unwrap().codec, "h264");
    assert_eq!(probed.video().unwrap().height, Some(240));
    assert!(probed.audio().next().is_some());
    // Its time stamps are where the segment sits in the item (8 s in, plus MPEG-TS's offset).
    let start = probe_start_seconds(&late);
    assert!((8.0..10.0).contains(&start), "segment 4 starts at {start}");
    // Back to the start: a second job from segment 0; its segments decode too.
    let first = s
        .service
        .hls_segment(&viewer, &item.id, "240p", 0, None, None)
        .await
        .unwrap();
    assert_eq!(s.service.inner.transcoder.counts().started, 2);
    assert!(probe_start_seconds(&first) < 2.0);
    // Cached: no new job.
    s.service
        .hls_segment(&viewer, &item.id, "240p", 4, None, None)
        .await
        .unwrap();
    assert_eq!(s.service.inner.transcoder.counts().started, 2);
    assert!(matches!(
        s.service
            .hls_segment(&viewer, &item.id, "240p", 6, None, None)
            .await,
        Err(StreamingError::NotFound)
    ));
    assert!(matches!(
        s.service
            .hls_segment(&viewer, &item.id, "4320p", 0, None, None)
            .await,
        Err(StreamingError::NotFound)
    ));
}

fn probe_start_seconds(path: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=start_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn subtitles_beside_and_inside_the_file_come_out_as_webvtt() {
    let s = setup(config()).await;
    let dir = s.root.path().join("subs");
    let source = dir.join("Legendado (2020).mkv");
    if !video(&source, 4, "160x120", "libx264", "aac") {
        return;
    }
    // A second copy with the .srt muxed in as a subrip track.
    let srt = dir.join("Legendado (2020).en.srt");
    std::fs::write(&srt, SRT).unwrap();
    let muxed = dir.join("Embutido (2020).mkv");
    ffmpeg(&[
        "-i",
        source.to_str().unwrap(),
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-c",
        "copy",
        "-c:s",
        "subrip",
        "-metadata:s:s:0",
        "language=por",
        muxed.to_str().unwrap(),
    ]);
    let library = s
        .service
        .add_library(
            &s.admin,
            "Legendas",
            dir.to_str().unwrap(),
            LibraryKind::Movies,
        )
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let items = s
        .service
        .items(&s.admin, &library.id, &ItemFilter::default(), None, None)
        .await
        .unwrap()
        .items;
    let viewer = Viewer::Principal(&s.admin);
    for item in &items {
        let subtitles = item.subtitles();
        assert_eq!(subtitles.len(), 1, "{}", item.title);
        let expected_language = if item.title == "Embutido" {
            "por"
        } else {
            "en"
        };
        assert_eq!(subtitles[0].language.as_deref(), Some(expected_language));
        let vtt = s.service.subtitle_vtt(&viewer, &item.id, 0).await.unwrap();
        let text = std::fs::read_to_string(vtt).unwrap();
        assert!(text.starts_with("WEBVTT"), "{text}");
        assert!(
            text.contains("00:00.500 --> 00:02.000") && text.contains("Olá, mundo"),
            "{text}"
        );
        assert!(matches!(
            s.service.subtitle_vtt(&viewer, &item.id, 1).await,
            Err(StreamingError::NotFound)
        ));
    }
}

#[tokio::test]
async fn progress_is_stored_pushed_and_resumed_from() {
    let s = setup(config()).await;
    let Some(item) = one_movie(&s, "resume.mp4", 10, "libx264", "aac").await else {
        return;
    };
    let duration = item.duration_ms.unwrap();
    let mut events = s.fixture.bus.subscribe();
    let report = |position_ms, state| Report {
        position_ms,
        duration_ms: None,
        state,
        device: Some("phone".into()),
    };
    let paused = s
        .service
        .report_progress(&s.admin, &item.id, &report(4_000, PlaybackState::Paused))
        .await
        .unwrap();
    assert_eq!((paused.position_ms, paused.played), (4_000, false));
    let pushed = std::iter::from_fn(|| events.try_recv().ok())
        .find(|e| e.kind == WATCH_PROGRESS)
        .unwrap();
    assert_eq!(pushed.user_id.as_ref(), Some(&s.admin.user_id));
    let pushed: WatchProgress = pushed.data_as().unwrap();
    assert_eq!(pushed.progress.position_ms, 4_000);
    assert_eq!(pushed.session_id.as_ref(), Some(&s.admin.session_id));
    // Another device of the same user resumes from there.
    let tv = s.fixture.sign_in("ana@example.org").await;
    let info = s
        .service
        .playback_info(&tv, &item.id, &browser(), None, None)
        .await
        .unwrap();
    assert_eq!(info.resume_position_ms, 4_000);
    let watching = s.service.continue_watching(&tv, None).await.unwrap();
    assert_eq!(watching.len(), 1);
    assert_eq!(watching[0].0.id, item.id);
    // Stopped near the end: played, out of "continue watching", in the history.
    s.service
        .report_progress(
            &tv,
            &item.id,
            &report(duration - 200, PlaybackState::Stopped),
        )
        .await
        .unwrap();
    assert!(s
        .service
        .continue_watching(&tv, None)
        .await
        .unwrap()
        .is_empty());
    let progress = s.service.progress(&tv, &item.id).await.unwrap().unwrap();
    assert_eq!(
        (progress.played, progress.play_count, progress.position_ms),
        (true, 1, 0)
    );
    let history = s.service.history(&s.admin, None).await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].played);
    // Unplayed again by hand.
    s.service
        .mark_played(&s.admin, &item.id, false)
        .await
        .unwrap();
    assert!(
        !s.service
            .progress(&s.admin, &item.id)
            .await
            .unwrap()
            .unwrap()
            .played
    );
    assert!(matches!(
        s.service
            .report_progress(&s.admin, &item.id, &report(-1, PlaybackState::Playing))
            .await,
        Err(StreamingError::Invalid(_))
    ));
    // Nobody else sees the item's progress; another community cannot report on it.
    let stranger = elsewhere(&s).await;
    assert!(matches!(
        s.service
            .report_progress(&stranger, &item.id, &report(1, PlaybackState::Playing))
            .await,
        Err(StreamingError::NotFound)
    ));
}

#[tokio::test]
async fn a_watched_root_is_rescanned_after_a_change() {
    let s = setup(StreamingConfig {
        watch: true,
        watch_debounce_ms: 300,
        ..config()
    })
    .await;
    let dir: PathBuf = s.root.path().join("watched");
    std::fs::create_dir_all(&dir).unwrap();
    let library = s
        .service
        .add_library(
            &s.admin,
            "Vídeos",
            dir.to_str().unwrap(),
            LibraryKind::Videos,
        )
        .await
        .unwrap();
    scanned(&s.service, &library).await;
    let mut events = s.fixture.bus.subscribe();
    // Made elsewhere and moved in, as a copy would land.
    let outside = s.root.path().join("Festa 2024-07.mp4");
    if !video(&outside, 2, "160x120", "libx264", "aac") {
        return;
    }
    std::fs::rename(&outside, dir.join("Festa 2024-07.mp4")).unwrap();
    let added = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await.unwrap();
            if event.kind == LIBRARY_CHANGED {
                let changed: LibraryChanged = event.data_as().unwrap();
                if changed.change == LibraryChange::ItemAdded {
                    return changed.item.unwrap();
                }
            }
        }
    })
    .await
    .expect("the watcher rescanned the library");
    assert_eq!(added.kind, ItemKind::Video);
    assert_eq!(added.title, "Festa 2024-07");
}
