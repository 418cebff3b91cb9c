//! `taina user create|list|set-role|reset-link|confirm-link`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;

use super::UserCommand;
use crate::state::AppState;

pub async fn run(state: &AppState, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            email,
            role,
            community,
        } => {
            let password =
                read_password().context("while reading the password from standard input")?;
            let user = state
                .auth
                .create_user(&email, password, role.into(), &community)
                .await?;
            println!(
                "created {} ({}) in community {} with id {}",
                user.email,
                user.role,
                community.trim(),
                user.id
            );
        }
        UserCommand::List { community } => {
            let community_id = match community {
                Some(c) => Some(state.auth.find_community_id(&c).await?),
                None => None,
            };
            let users = state.auth.list_users(community_id.as_ref()).await?;
            let mut names = std::collections::HashMap::new();
            let mut rows = Vec::with_capacity(users.len());
            for user in users {
                if !names.contains_key(&user.community_id) {
                    let name = state.auth.community(&user.community_id).await?.name;
                    names.insert(user.community_id.clone(), name);
                }
                rows.push(vec![
                    user.email,
                    user.role.to_string(),
                    names[&user.community_id].clone(),
                    if user.totp_enabled { "on" } else { "off" }.into(),
                    user.id.to_string(),
                ]);
            }
            print!(
                "{}",
                table(&["email", "role", "community", "2fa", "id"], &rows)
            );
        }
        UserCommand::ResetLink { email, community } => {
            let user = state.auth.find_user(&email, community.as_deref()).await?;
            let (link, until) = state.auth.reset_link_for(&user.id).await?;
            println!(
                "password reset link for {} (works once, until {} UTC; opening it signs out \
                 every device of theirs):\n{link}",
                user.email,
                until.format("%Y-%m-%d %H:%M")
            );
        }
        UserCommand::ConfirmLink { email, community } => {
            let user = state.auth.find_user(&email, community.as_deref()).await?;
            let (link, until) = state.auth.confirm_link_for(&user.id).await?;
            println!(
                "email confirmation link for {} (works once, until {} UTC):\n{link}",
                user.email,
                until.format("%Y-%m-%d %H:%M")
            );
        }
        UserCommand::SetRole {
            email,
            role,
            community,
        } => {
            let user = state.auth.find_user(&email, community.as_deref()).await?;
            let user = state.auth.set_role(&user.id, role.into()).await?;
            println!("{} is now {}", user.email, user.role);
        }
    }
    Ok(())
}

/// The password: asked for twice without echo on a terminal; otherwise the first line of
/// standard input, without its line ending (so `echo pw | taina …` works).
fn read_password() -> std::io::Result<String> {
    if std::io::stdin().is_terminal() {
        loop {
            let first = rpassword::prompt_password("password: ")?;
            let again = rpassword::prompt_password("the same password again: ")?;
            if first == again {
                return Ok(first);
            }
            eprintln!("the two passwords differ; once more");
        }
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// Rows under a header, each column as wide as its widest cell (counted in characters, so
/// accented names line up).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_cells_hold() {
        let rows = vec![
            vec![
                "joão@aldeia.org".to_string(),
                "admin".into(),
                "Aldeia São João".into(),
            ],
            vec!["b@x.org".to_string(), "member".into(), "Aldeia".into()],
        ];
        let text = table(&["email", "role", "community"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        let column = |line: &str, word: &str| line.find(word).map(|i| line[..i].chars().count());
        assert_eq!(column(lines[0], "role"), column(lines[1], "admin"));
        assert_eq!(column(lines[1], "admin"), column(lines[2], "member"));
        assert_eq!(column(lines[0], "community"), column(lines[2], "Aldeia"));
    }
}
