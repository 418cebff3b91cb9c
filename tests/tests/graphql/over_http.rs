//! GraphQL over HTTP: queries, mutations and chat.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::graphql::{gql, pair};
use taina_tests::TestServer;

#[tokio::test]
async fn graphql_over_http() {
    let server = TestServer::start().await;
    server.admin().await;
    let page = server
        .send(server.client.get(format!("{}/graphql", server.url)))
        .await;
    assert_eq!(page.status, StatusCode::OK);

    let signed = gql(
        &server,
        None,
        "mutation { signIn(email: \"admin@example.org\", password: \"admin password\") { token expiresAt user { id role } } }",
        json!({}),
    )
    .await;
    let token = signed["data"]["signIn"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(signed["data"]["signIn"]["user"]["role"], "ADMIN");
    let me = gql(
        &server,
        Some(&token),
        "{ me { email role communityId } }",
        json!({}),
    )
    .await;
    assert_eq!(me["data"]["me"]["email"], "admin@example.org");

    let anonymous = gql(&server, None, "{ me { id } }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "unauthenticated"
    );
    let wrong = gql(
        &server,
        None,
        "mutation { signIn(email: \"admin@example.org\", password: \"nope nope\") { token } }",
        json!({}),
    )
    .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["code"],
        "invalid_credentials"
    );
    let bad_token = server
        .post(
            "/graphql",
            json!({ "query": "{ me { id } }" }),
            Some("garbage"),
        )
        .await;
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);

    // Depth and complexity limits.
    let nested = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    let reply = gql(&server, Some(&token), nested, json!({})).await;
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{reply}"
    );
    let too_deep =
        "{ conversations { id } ".to_string() + &"a: conversations { id } ".repeat(600) + "}";
    let reply = gql(&server, Some(&token), &too_deep, json!({})).await;
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{reply}"
    );

    let out = gql(&server, Some(&token), "mutation { signOut }", json!({})).await;
    assert_eq!(out["data"]["signOut"], true);
    assert_eq!(
        server
            .post(
                "/graphql",
                json!({ "query": "{ me { id } }" }),
                Some(&token)
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn chat_over_graphql_http() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let send_message = "mutation($c: String!, $b: String!, $k: String) { sendMessage(conversationId: $c, body: $b, clientId: $k) { id body offset epoch senderId } }";
    let first = gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "um", "k": "k1" }),
    )
    .await;
    let again = gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "um", "k": "k1" }),
    )
    .await;
    assert_eq!(first["data"]["sendMessage"], again["data"]["sendMessage"]);
    gql(
        &server,
        Some(&p.member),
        send_message,
        json!({ "c": p.conversation, "b": "dois", "k": null }),
    )
    .await;
    let empty = gql(
        &server,
        Some(&p.member),
        send_message,
        json!({ "c": p.conversation, "b": " ", "k": null }),
    )
    .await;
    assert_eq!(empty["errors"][0]["extensions"]["code"], "empty_body");

    let page = gql(
        &server,
        Some(&p.member),
        "query($c: String!) { messages(conversationId: $c, limit: 1) { messages { body offset } nextBefore } }",
        json!({ "c": p.conversation }),
    )
    .await;
    assert_eq!(
        page["data"]["messages"]["messages"],
        json!([{ "body": "dois", "offset": 2 }])
    );
    let older = gql(
        &server,
        Some(&p.member),
        "query($c: String!, $b: Int) { messages(conversationId: $c, before: $b) { messages { body } } }",
        json!({ "c": p.conversation, "b": page["data"]["messages"]["nextBefore"] }),
    )
    .await;
    assert_eq!(
        older["data"]["messages"]["messages"],
        json!([{ "body": "um" }])
    );

    let outsider = server
        .invited(&p.admin, "outsider@example.org", "member")
        .await;
    let hidden = gql(
        &server,
        Some(&outsider),
        "query($c: String!) { messages(conversationId: $c) { messages { body } } }",
        json!({ "c": p.conversation }),
    )
    .await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "not_found");
    let listed = gql(
        &server,
        Some(&outsider),
        "{ conversations { id } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["data"]["conversations"], json!([]));
}
