//! GraphQL limits: introspection and GraphiQL switches (and the home page's link to it),
//! aliases counted toward complexity.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

#[tokio::test]
async fn introspection_and_graphiql_can_be_switched_off() {
    let schema_query = "{ __schema { queryType { name } } }";
    let on = TestServer::start().await;
    let token = on.admin().await;
    let reply = on.graphql(Some(&token), schema_query, json!({})).await;
    assert_eq!(
        reply["data"]["__schema"]["queryType"]["name"], "Query",
        "{reply}"
    );
    assert_eq!(on.get("/graphql", None).await.status, StatusCode::OK);
    let home = |url: String| async move {
        let response = reqwest::get(format!("{url}/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    };
    let page = home(on.url.clone()).await;
    assert!(
        page.contains("href=\"/graphql\"") && page.contains("href=\"/admin\""),
        "{page}"
    );
    // GraphiQL's scripts come from this server, not a CDN.
    let graphiql = reqwest::get(format!("{}/graphql", on.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scripts: Vec<&str> = graphiql.split("<script src=\"").skip(1).collect();
    assert_eq!(scripts.len(), 3, "{graphiql}");
    for script in scripts {
        let path = &script[..script.find('"').unwrap()];
        assert!(path.starts_with("/admin/assets/"), "{path}");
        assert_eq!(on.get(path, None).await.status, StatusCode::OK, "{path}");
    }

    let off = TestServer::builder()
        .with_config(|c| c.graphql.introspection = false)
        .start()
        .await;
    let token = off.admin().await;
    // async-graphql answers introspection fields with null when it is off.
    let reply = off.graphql(Some(&token), schema_query, json!({})).await;
    assert!(reply["data"]["__schema"].is_null(), "{reply}");
    assert_eq!(
        off.get("/graphql", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!home(off.url.clone()).await.contains("/graphql\""));
    // Ordinary queries, `__typename` included, still work.
    let reply = off
        .graphql(Some(&token), "{ __typename me { id } }", json!({}))
        .await;
    assert_eq!(reply["data"]["__typename"], "Query", "{reply}");
}

#[tokio::test]
async fn typename_aliases_count_toward_complexity() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let aliases = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("t{i}: __typename")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let small = server.graphql(Some(&token), &aliases(100), json!({})).await;
    assert_eq!(small["data"]["t99"], "Query", "{small}");
    let large = server
        .graphql(Some(&token), &aliases(5000), json!({}))
        .await;
    assert!(large["data"].is_null(), "{large}");
    assert_eq!(
        large["errors"][0]["message"], "Query is too complex.",
        "{large}"
    );
}
