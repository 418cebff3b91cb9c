//! `taina user create|list|set-role|reset-link|confirm-link`.

use std::io::BufRead;

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
            println!(
                "{:<21}  {:<21}  {:<6}  {:<4}  email",
                "id", "community", "role", "2fa"
            );
            for user in users {
                println!(
                    "{:<21}  {:<21}  {:<6}  {:<4}  {}",
                    user.id,
                    user.community_id,
                    user.role,
                    if user.totp_enabled { "on" } else { "off" },
                    user.email
                );
            }
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

/// The first line of standard input, without its line ending (so `echo pw | taina …` works).
fn read_password() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}
