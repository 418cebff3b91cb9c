//! What the files suites share: a signed-up user with their personal space and an app password.

use serde_json::{json, Value};
use taina_tests::TestServer;

pub struct User {
    pub token: String,
    pub id: String,
    pub email: String,
    pub space: String,
}

pub async fn gql(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    let reply = server.graphql(Some(token), query, variables).await;
    assert!(reply["errors"].is_null(), "{reply}");
    reply["data"].clone()
}

pub async fn admin(server: &TestServer) -> User {
    let token = server.admin().await;
    user(server, token, "admin@example.org").await
}

pub async fn member(server: &TestServer, admin: &User, email: &str) -> User {
    let token = server.invited(&admin.token, email, "member").await;
    user(server, token, email).await
}

async fn user(server: &TestServer, token: String, email: &str) -> User {
    let id = server.user_id(&token).await;
    let spaces = gql(server, &token, "{ spaces { id name kind } }", json!({})).await;
    let personal = spaces["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "PERSONAL")
        .expect("a personal space");
    User {
        space: personal["id"].as_str().unwrap().to_string(),
        token,
        id,
        email: email.to_string(),
    }
}

pub async fn app_password(server: &TestServer, user: &User, name: &str) -> (String, String) {
    let made = gql(
        server,
        &user.token,
        "mutation($n: String!) { createAppPassword(name: $n) { id name secret } }",
        json!({ "n": name }),
    )
    .await;
    let made = &made["createAppPassword"];
    assert_eq!(made["name"], name);
    (
        made["id"].as_str().unwrap().to_string(),
        made["secret"].as_str().unwrap().to_string(),
    )
}

/// `PUT /api/files/spaces/{space}/content/{path}`.
pub async fn put(server: &TestServer, user: &User, space: &str, path: &str, body: &[u8]) -> Value {
    let reply = server
        .send(
            server
                .client
                .put(format!(
                    "{}/api/files/spaces/{space}/content/{path}",
                    server.url
                ))
                .bearer_auth(&user.token)
                .body(body.to_vec()),
        )
        .await;
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
    reply.body
}
