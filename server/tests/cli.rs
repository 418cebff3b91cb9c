//! The `taina` binary itself: configuration errors, `config`, the user and session commands,
//! and `serve` with its signal handling. Runs on a fresh SQLite data directory per test.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::{run, serve, serve_on, taina, text, Served};

#[test]
fn help_exists_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["config", "--help"],
        vec!["user", "--help"],
        vec!["user", "create", "--help"],
        vec!["user", "list", "--help"],
        vec!["user", "set-role", "--help"],
        vec!["session", "revoke", "--help"],
    ] {
        let mut command = taina(dir.path());
        command.args(&args);
        let out = run(command, "");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn unknown_and_malformed_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = taina(dir.path());
    command.arg("config").env("TAINA_LISTN", "127.0.0.1:1");
    let out = run(command, "");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("listn") && stderr.contains("TAINA_LISTN"),
        "{stderr}"
    );

    let mut command = taina(dir.path());
    command.arg("config").env("TAINA_LISTEN", "nowhere");
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[auth]\ntoken_ttl_hours = \"soon\"\n",
    )
    .unwrap();
    let mut command = taina(dir.path());
    command.args(["--config", "bad.toml", "config"]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("auth.token_ttl_hours"),
        "{}",
        text(&out.stderr)
    );

    let mut command = taina(dir.path());
    command.args(["--config", "missing.toml", "config"]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[test]
fn config_prints_the_layers_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("taina.toml"),
        "listen = \"127.0.0.1:4100\"\n[auth]\ntoken_ttl_hours = 12\n",
    )
    .unwrap();
    let mut command = taina(dir.path());
    command
        .arg("config")
        .env("TAINA_LISTEN", "127.0.0.1:4200")
        .env(
            "TAINA_DATABASE_URL",
            "postgres://taina:hunter2@127.0.0.1:5432/taina",
        );
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("listen = \"127.0.0.1:4200\""), "{printed}"); // env beats file
    assert!(printed.contains("token_ttl_hours = 12"), "{printed}"); // file beats default
    assert!(printed.contains("postgres://taina:***@127.0.0.1:5432/taina"));
    assert!(!printed.contains("hunter2"));
}

#[test]
fn user_commands_create_list_and_change_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "Root@Example.org",
        "--role",
        "admin",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "a long password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("root@example.org (admin)"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "kid@example.org",
        "--role",
        "guest",
        "--community",
        "Aldeia",
    ]);
    assert!(run(command, "another password\n").status.success());

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "weak@example.org",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "short\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("at least 8"),
        "{}",
        text(&out.stderr)
    );

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "root@example.org",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "a long password\n");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "set-role",
        "--email",
        "kid@example.org",
        "--role",
        "member",
    ]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("kid@example.org is now member"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "set-role",
        "--email",
        "root@example.org",
        "--role",
        "member",
    ]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("at least one admin"));

    let mut command = taina(dir.path());
    command.args(["user", "list", "--community", "Aldeia"]);
    let out = run(command, "");
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(
        listing.contains("root@example.org") && listing.contains("admin"),
        "{listing}"
    );
    assert!(
        listing.contains("kid@example.org") && listing.contains("member"),
        "{listing}"
    );
    // The community by its name, under a header that lines up with the rows.
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[1..].iter().all(|l| l.contains("Aldeia")), "{listing}");
    let role_column = lines[0].find("role").unwrap();
    assert!(
        lines[1..].iter().all(
            |l| l[role_column..].starts_with("admin") || l[role_column..].starts_with("member")
        ),
        "{listing}"
    );

    let mut command = taina(dir.path());
    command.args(["user", "list", "--community", "Nowhere"]);
    assert!(!run(command, "").status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_persists_its_secret_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", served.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", served.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signup = client
        .post(format!("{}/api/auth/signup", served.url))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let signin: Value = client
        .post(format!("{}/api/auth/signin", served.url))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signin["token"].as_str().unwrap().to_string();
    assert!(served.terminate().success());

    // The data directory holds the database, files/ and a private secret.
    assert!(data.join("taina.db").exists());
    assert!(data.join("files").is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("jwt.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // After a restart the same secret is used: the token still works.
    let served = serve(dir.path(), &data);
    let me = client
        .get(format!("{}/api/auth/me", served.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // `taina session revoke` from another process ends the session.
    let mut command = taina(dir.path());
    command
        .env("TAINA_DATA_DIR", &data)
        .args(["session", "revoke", "--user", "ana@example.org"]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("revoked 1 session"));
    let me = client
        .get(format!("{}/api/auth/me", served.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert!(served.terminate().success());
}

#[test]
fn version_names_the_commit_and_the_backends() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = taina(dir.path());
    command.arg("--version");
    let out = run(command, "");
    assert!(out.status.success());
    let version = text(&out.stdout);
    assert!(version.starts_with("taina 0."), "{version}");
    assert!(version.contains("(commit "), "{version}");
    assert!(
        version.contains("SQLite") && version.contains("PostgreSQL") && version.contains("NATS"),
        "{version}"
    );
}

#[test]
fn a_start_that_fails_says_why_once_with_the_whole_path() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the data directory should be.
    std::fs::write(dir.path().join("data"), "not a directory").unwrap();
    let mut command = taina(dir.path());
    command.arg("serve").env("TAINA_DATA_DIR", "data");
    let out = run(command, "");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let whole = dir.path().canonicalize().unwrap().join("data");
    assert!(lines[0].contains(&whole.display().to_string()), "{stderr}");
    // Each cause once: the library's message already holds its source's.
    let cause = lines[0].rsplit(": ").next().unwrap();
    assert_eq!(lines[0].matches(cause).count(), 1, "{stderr}");
}

/// Under systemd's `Type=notify` (deploy/taina.service): READY=1 once it listens, WATCHDOG=1
/// at half the interval systemd asks for, STOPPING=1 when told to stop.
#[test]
fn serve_tells_systemd_it_is_ready_alive_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&socket_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // systemd names the process the watchdog is for; the shell's pid is taina's after exec.
    let defaults = taina(dir.path());
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" serve", support::BIN])
        .env_clear()
        .envs(defaults.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("TAINA_LISTEN", "127.0.0.1:0")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .current_dir(dir.path());
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let next = || {
        let mut buffer = [0u8; 256];
        let n = systemd
            .recv(&mut buffer)
            .expect("a notification within 30 s");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    assert_eq!(next().trim(), "READY=1");
    assert_eq!(next().trim(), "WATCHDOG=1");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // Watchdog pings may come before it.
    let mut last = next();
    while last.trim() == "WATCHDOG=1" {
        last = next();
    }
    assert_eq!(last.trim(), "STOPPING=1");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_listens_on_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_on(dir.path(), &dir.path().join("data"), "localhost:0");
    let health = reqwest::get(format!("{}/healthz", served.url))
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert!(served.terminate().success());
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let mut command = taina(dir.path());
        command.arg("migrate");
        let out = run(command, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("migrations applied (sqlite)"));
    }
}

/// A JPEG of `w`×`h` whose pixels depend on `seed` (different seeds give different bytes).
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_add(seed), (y as u8) ^ seed, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// Signs up the first user (the admin) of a fresh instance and returns their token.
async fn admin_token(client: &reqwest::Client, url: &str) -> String {
    let signup = client
        .post(format!("{url}/api/auth/signup"))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let signin: Value = client
        .post(format!("{url}/api/auth/signin"))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    signin["token"].as_str().unwrap().to_string()
}

/// `POST /api/media` with one photo; returns the new photo's id.
async fn upload_photo(client: &reqwest::Client, url: &str, token: &str, bytes: Vec<u8>) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("photo.jpg")
            .mime_str("image/jpeg")
            .unwrap(),
    );
    let reply = client
        .post(format!("{url}/api/media"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let body: Value = reply.json().await.unwrap();
    body["photo"]["id"].as_str().unwrap().to_string()
}

async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until processing has settled every photo in `ids` and returns their statuses.
async fn settled(client: &reqwest::Client, url: &str, token: &str, ids: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut statuses = Vec::new();
    for id in ids {
        loop {
            let reply = graphql(
                client,
                url,
                token,
                "query($id: String!) { photo(id: $id) { processingStatus } }",
                json!({ "id": id }),
            )
            .await;
            let status = reply["data"]["photo"]["processingStatus"]
                .as_str()
                .unwrap_or_else(|| panic!("{reply}"))
                .to_string();
            if status != "pending" {
                statuses.push(status);
                break;
            }
            assert!(Instant::now() < deadline, "photo {id} never left pending");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    statuses
}

/// The media context's processing jobs: (file id, status, attempts), read from `media.db`.
async fn media_jobs(data: &Path) -> Vec<(String, String, i64)> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data.join("media.db"));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let jobs = sqlx::query_as("SELECT file_id, status, attempts FROM jobs ORDER BY file_id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    jobs
}

/// Every log line a served process has printed so far.
fn drain(served: &Served) -> Vec<String> {
    served.logs.try_iter().collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_is_private_and_every_file_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An existing directory that every local user may read is tightened.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let id = upload_photo(&client, &served.url, &token, jpeg(640, 480, 1)).await;
    assert_eq!(
        settled(&client, &served.url, &token, &[id]).await,
        ["ready"]
    );

    // Checked while the server runs, so the write-ahead logs are there too.
    fn walk(dir: &Path, found: &mut Vec<(std::path::PathBuf, u32, bool)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            let mode = meta.permissions().mode() & 0o777;
            found.push((entry.path(), mode, meta.is_dir()));
            if meta.is_dir() {
                walk(&entry.path(), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&data, &mut found);
    let names: Vec<String> = found
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    for expected in [
        "taina.db",
        "taina.db-wal",
        "taina.db-shm",
        "chat.db",
        "media.db",
        "media.db-wal",
        "jwt.secret",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("files/blobs/")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("files/renditions/")),
        "{names:?}"
    );
    let data_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(data_mode, 0o700, "the data directory");
    for (path, mode, is_dir) in &found {
        let wanted = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{} is {mode:o}", path.display());
    }
    assert!(served.terminate().success());
}

/// A community without mail: the operator prints a reset link beside the running server, and
/// the link sets a new password (once); a confirmation link confirms the address.
#[tokio::test(flavor = "multi_thread")]
async fn reset_and_confirm_links_printed_by_the_cli_work_on_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    admin_token(&client, &served.url).await;
    let link_of = |what: &str, path: &str| {
        let mut command = taina(dir.path());
        command
            .env("TAINA_DATA_DIR", &data)
            .env("TAINA_ADMIN__PUBLIC_URL", "https://home.example.org/admin")
            .args(["user", what, "--email", "Ana@Example.org"]);
        let out = run(command, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let start = printed
            .find(&format!("https://home.example.org{path}"))
            .unwrap_or_else(|| panic!("no link in {printed}"));
        printed[start + "https://home.example.org".len() + path.len()..]
            .trim()
            .to_string()
    };
    let token = link_of("reset-link", "/admin/reset/");
    let confirm = |token: String| {
        client
            .post(format!("{}/api/auth/password/reset/confirm", served.url))
            .json(&json!({ "token": token, "password": "a printed new password" }))
            .send()
    };
    assert_eq!(confirm(token.clone()).await.unwrap().status(), 204);
    assert_eq!(confirm(token).await.unwrap().status(), 400, "once only");
    let signin = client
        .post(format!("{}/api/auth/signin", served.url))
        .json(&json!({ "email": "ana@example.org", "password": "a printed new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 200);

    let token = link_of("confirm-link", "/admin/confirm/");
    let confirmed: Value = client
        .post(format!("{}/api/auth/email/confirm", served.url))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["email_confirmed"], true, "{confirmed}");
    assert!(served.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_commands_beside_a_busy_server_touch_no_job_and_print_only_their_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let mut ids = Vec::new();
    let mut printed = Vec::new();
    for round in 0..10u8 {
        // Large enough that processing is still going on while the command runs.
        if round < 6 {
            ids.push(upload_photo(&client, &served.url, &token, jpeg(2000, 1500, round)).await);
        }
        let mut command = taina(dir.path());
        command
            .env("TAINA_DATA_DIR", &data)
            .env("TAINA_LOG", "info")
            .args(["user", "list"]);
        let out = run(command, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("ana@example.org"));
        printed.push(text(&out.stderr));
    }
    let statuses = settled(&client, &served.url, &token, &ids).await;
    assert!(statuses.iter().all(|s| s == "ready"), "{statuses:?}");
    // Each job was claimed once, by the server: a command that re-queued a running job
    // would have made the server claim it a second time; one that claimed a job itself
    // would have left it running or failed.
    let jobs = media_jobs(&data).await;
    assert_eq!(jobs.len(), ids.len());
    for (file, status, attempts) in &jobs {
        assert_eq!((status.as_str(), *attempts), ("done", 1), "job of {file}");
    }
    let logs = drain(&served);
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("requeued") || l.contains("closed pool")),
        "{logs:#?}"
    );
    // Nothing but the listing: no log line at all, let alone a WARN or an ERROR.
    assert!(printed.iter().all(String::is_empty), "{printed:#?}");
    assert!(served.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_serve_that_cannot_bind_starts_no_background_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let id = upload_photo(&client, &served.url, &token, jpeg(320, 240, 9)).await;
    assert_eq!(
        settled(&client, &served.url, &token, std::slice::from_ref(&id)).await,
        ["ready"]
    );
    assert!(served.terminate().success());

    // As if the server had been killed half-way through the job.
    {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data.join("media.db"));
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET status = 'running'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let mut command = taina(dir.path());
    command
        .env("TAINA_DATA_DIR", &data)
        .env("TAINA_LOG", "info")
        .env("TAINA_LISTEN", &address)
        .arg("serve");
    let out = run(command, "");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("requeued"), "{stderr}");
    assert_eq!(
        media_jobs(&data).await,
        [(id.clone(), "running".to_string(), 1)],
        "the job is untouched"
    );
    drop(taken);

    // A server that does start picks the job up again.
    let served = serve(dir.path(), &data);
    let token = {
        let signin: Value = client
            .post(format!("{}/api/auth/signin", served.url))
            .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        signin["token"].as_str().unwrap().to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while media_jobs(&data).await[0].1 != "done" {
        assert!(Instant::now() < deadline, "the job was not requeued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        media_jobs(&data).await,
        [(id.clone(), "done".to_string(), 2)]
    );
    assert_eq!(
        settled(&client, &served.url, &token, &[id]).await,
        ["ready"]
    );
    assert!(served.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn leftover_temporary_files_are_removed_at_start_and_open_uploads_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let created = graphql(
        &client,
        &served.url,
        &token,
        "mutation($s: Int!, $h: String!) { createUpload(filename: \"x.jpg\", size: $s, sha256: $h) { id } }",
        json!({ "s": 1000, "h": "0".repeat(64) }),
    )
    .await;
    let upload_id = created["data"]["createUpload"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let part = data.join("uploads").join(format!("{upload_id}.part"));
    std::fs::write(&part, b"half of the bytes").unwrap();
    assert!(served.terminate().success());

    // What a killed server leaves behind.
    let stray = data.join("tmp").join("upload-xyz");
    std::fs::write(&stray, b"partial").unwrap();

    // A one-shot command never deletes them: a server may be writing them right now.
    let mut command = taina(dir.path());
    command.env("TAINA_DATA_DIR", &data).args(["user", "list"]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stray.exists(), "the CLI removed a temporary file");

    let served = serve(dir.path(), &data);
    assert!(
        !stray.exists(),
        "a leftover temporary upload survived the start"
    );
    assert_eq!(std::fs::read(&part).unwrap(), b"half of the bytes");
    assert!(served.terminate().success());
}

/// Resident memory of a process, from `/proc/{pid}/status`.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Hardening: a 400 MiB `operations` part once took the server from 40 to 953 MiB. Now the
/// part is held to `http.json_body_limit_bytes`: 413 with resident memory nearly unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_graphql_multipart_operations_part_is_413_without_growing_memory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &dir.path().join("data"));
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let before = resident_bytes(served.child.id());

    let address = served.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let boundary = "XmemoryX";
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let opening = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\": \""
    );
    let filler = vec![b' '; 1024 * 1024];
    let mut pieces = vec![opening.into_bytes()];
    pieces.extend(std::iter::repeat_n(filler, 50));
    for piece in pieces {
        let sent = async {
            stream
                .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await?;
            stream.write_all(&piece).await?;
            stream.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // the server answered and closed: the rest is never read
        }
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let after = resident_bytes(served.child.id());
    let grown = after.saturating_sub(before);
    assert!(
        grown < 10 * 1024 * 1024,
        "resident memory grew by {grown} bytes ({before} → {after})"
    );
    assert!(served.terminate().success());
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame of `socket`.
async fn next_text(socket: &mut Socket) -> String {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// `taina alert send` stores an instance-wide alert; the running server relays it to
/// `system:alerts` subscribers, marked as the operator's.
#[tokio::test(flavor = "multi_thread")]
async fn alert_send_reaches_the_sockets_of_a_running_server() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &served.url).await;
    let ws_url = format!(
        "{}/socket/websocket?vsn=2.0.0&token={token}",
        served.url.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    socket
        .send(Message::text(r#"["1","1","system:alerts","phx_join",{}]"#))
        .await
        .unwrap();
    let joined = tokio::time::timeout(Duration::from_secs(10), next_text(&mut socket))
        .await
        .unwrap();
    assert!(joined.contains(r#""status":"ok""#), "{joined}");

    let mut command = taina(dir.path());
    command.env("TAINA_DATA_DIR", &data).args([
        "alert",
        "send",
        "--message",
        "disk almost full",
        "--level",
        "warning",
    ]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stored"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));

    let alert = tokio::time::timeout(Duration::from_secs(10), next_text(&mut socket))
        .await
        .expect("the alert within the relay interval");
    let frame: Value = serde_json::from_str(&alert).unwrap();
    assert_eq!(frame[2], "system:alerts");
    assert_eq!(frame[3], "alert");
    assert_eq!(frame[4]["message"], "disk almost full");
    assert_eq!(frame[4]["level"], "warning");
    assert_eq!(frame[4]["from"], "operator");
    assert_eq!(frame[4]["scope"], "instance");
    assert!(served.terminate().success());
}
