//! Preparing users and conversations through the server's own API.

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
    pub user_id: String,
}

pub struct Seeder {
    base: String,
    http: reqwest::Client,
    accounts_file: Option<PathBuf>,
}

impl Seeder {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            accounts_file: None,
        }
    }

    /// Members are taken from `file` when it holds enough, and new ones written to it.
    pub fn keeping_accounts_in(mut self, file: Option<PathBuf>) -> Self {
        self.accounts_file = file;
        self
    }

    /// A POST with a JSON body: (status, JSON answer).
    pub async fn post(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A GraphQL query's `data` (its errors are an error).
    pub async fn graphql(&self, account: &Account, query: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .post("/graphql", json!({ "query": query }), Some(&account.token))
            .await?;
        if status != 200 || !body["errors"].is_null() {
            bail!("GraphQL {query}: {status} {body}");
        }
        Ok(body["data"].clone())
    }

    /// `POST /api/media` with `bytes` as the multipart part `file`: (status, JSON answer).
    pub async fn upload(
        &self,
        account: &Account,
        file_name: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_string())
            .mime_str(mime)?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = self
            .http
            .post(format!("{}/api/media", self.base))
            .bearer_auth(&account.token)
            .multipart(form)
            .send()
            .await
            .context("POST /api/media")?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// The server's base URL (`http://127.0.0.1:4000`).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<Account> {
        let (status, body) = self
            .post(
                "/api/auth/signin",
                json!({ "email": email, "password": password }),
                None,
            )
            .await?;
        if status != 200 {
            bail!("sign-in of {email} failed: {status} {body}");
        }
        Ok(Account {
            token: body["token"].as_str().unwrap_or_default().to_string(),
            user_id: body["user"]["id"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Signs up the instance's first admin, or signs in when it exists.
    pub async fn admin(&self, email: &str, password: &str) -> anyhow::Result<Account> {
        let (status, body) = self
            .post(
                "/api/auth/signup",
                json!({ "email": email, "password": password, "community_name": "Load" }),
                None,
            )
            .await?;
        if status != 201 && status != 403 {
            bail!("admin sign-up failed: {status} {body}");
        }
        self.sign_in(email, password).await
    }

    /// `count` members, signed in: kept ones from the accounts file when it holds enough,
    /// else new ones (then written to it).
    pub async fn members(&self, admin: &Account, count: usize) -> anyhow::Result<Vec<Account>> {
        let Some(file) = &self.accounts_file else {
            return self.new_members(admin, count).await;
        };
        let kept = kept_accounts(file)?;
        if kept.len() >= count {
            return Ok(kept.into_iter().take(count).collect());
        }
        let members = self.new_members(admin, count).await?;
        let lines: String = members
            .iter()
            .map(|m| format!("{} {}\n", m.user_id, m.token))
            .collect();
        std::fs::write(file, lines).with_context(|| format!("writing {}", file.display()))?;
        Ok(members)
    }

    /// `count` new members (one invite, many uses), signed in.
    async fn new_members(&self, admin: &Account, count: usize) -> anyhow::Result<Vec<Account>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let (status, invite) = self
            .post(
                "/api/auth/invites",
                json!({ "max_uses": count, "role": "member" }),
                Some(&admin.token),
            )
            .await?;
        if status != 201 {
            bail!("invite failed: {status} {invite}");
        }
        let code = invite["code"].as_str().unwrap_or_default().to_string();
        let run = std::process::id();
        let stamp = crate::stats::now_us();
        let results: Vec<anyhow::Result<Account>> = stream::iter(0..count)
            .map(|i| {
                let code = code.clone();
                async move {
                    let email = format!("load-{run}-{stamp}-{i}@example.org");
                    let password = "load member password";
                    let (status, body) = self
                        .post(
                            "/api/auth/signup",
                            json!({ "email": email, "password": password, "invite_code": code }),
                            None,
                        )
                        .await?;
                    if status != 201 {
                        bail!("member sign-up failed: {status} {body}");
                    }
                    self.sign_in(&email, password).await
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// A group conversation created by `creator` with `others`; returns its id.
    pub async fn conversation(
        &self,
        creator: &Account,
        others: &[String],
    ) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/api/chat/conversations",
                json!({ "kind": "group", "name": "load room", "participant_ids": others }),
                Some(&creator.token),
            )
            .await?;
        if status != 201 {
            bail!("conversation failed: {status} {body}");
        }
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }

    /// `ws://…/socket/websocket` for this server.
    pub fn ws_url(&self) -> String {
        format!(
            "{}/socket/websocket",
            self.base.replacen("http://", "ws://", 1)
        )
    }
}

/// The accounts in a file `Seeder::members` wrote (none when it does not exist).
fn kept_accounts(file: &Path) -> anyhow::Result<Vec<Account>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    text.lines()
        .map(|line| match line.split_once(' ') {
            Some((user_id, token)) => Ok(Account {
                token: token.to_string(),
                user_id: user_id.to_string(),
            }),
            None => bail!("{}: not `user_id token`: {line}", file.display()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_accounts_are_read_back_line_by_line() {
        let file = std::env::temp_dir().join(format!("taina-load-accounts-{}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        assert!(kept_accounts(&file).expect("no file yet").is_empty());
        std::fs::write(&file, "u1 token.one\nu2 token.two\n").expect("write");
        let kept = kept_accounts(&file).expect("read");
        let pairs: Vec<(&str, &str)> = kept
            .iter()
            .map(|a| (a.user_id.as_str(), a.token.as_str()))
            .collect();
        assert_eq!(pairs, [("u1", "token.one"), ("u2", "token.two")]);
        std::fs::write(&file, "u1 token.one\nbroken\n").expect("write");
        let error = kept_accounts(&file).expect_err("a line without a token");
        assert!(error.to_string().contains("broken"), "{error}");
        std::fs::remove_file(&file).expect("remove");
    }
}
