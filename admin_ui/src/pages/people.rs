//! People: communities, users (role, last seen, sockets open now, sessions per device) and
//! invites, with the actions an admin takes on them. The three tables are live regions
//! (`people-communities`, `people-users`, `people-invites`); rows carry `user-<id>` and
//! `invite-<id>` ids. Above them, the community's settings form (name, slug, default language,
//! registration).

use maud::{html, Markup, PreEscaped};

use crate::layout::{action_form, page as shell_page};
use crate::model::{CommunitySettingsForm, Page, People, Shell, UserRow};
use crate::{region, Region, Rendering};

const ROLES: [&str; 3] = ["admin", "member", "guest"];
const REGISTRATIONS: [(&str, &str); 2] = [
    ("invite_only", "by invite only"),
    ("open", "open to anyone"),
];

pub fn regions(people: &People, csrf: &str, rendering: Rendering) -> Vec<Region> {
    vec![
        Region::new(
            "people-communities",
            region(
                "div",
                "people-communities",
                "",
                rendering,
                communities(people),
            ),
        ),
        Region::new(
            "people-users",
            region("div", "people-users", "", rendering, users(people, csrf)),
        ),
        Region::new(
            "people-invites",
            region(
                "div",
                "people-invites",
                "",
                rendering,
                invites(people, csrf),
            ),
        ),
    ]
}

fn communities(people: &People) -> Markup {
    html! {
        table {
            thead { tr { th { "Community" } th { "Slug" } th.num { "Members" } th.num { "Online" } } }
            tbody {
                @for c in &people.communities {
                    tr #(format!("community-{}", c.id)) {
                        td { (c.name) } td { (c.slug) }
                        td.num { (c.members) } td.num { (c.online) }
                    }
                }
            }
        }
    }
}

fn users(people: &People, csrf: &str) -> Markup {
    let needle = people.search.to_lowercase();
    let shown = people.users.iter().filter(|u| {
        needle.is_empty()
            || u.email.to_lowercase().contains(&needle)
            || u.display_name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&needle))
    });
    html! {
        table {
            thead { tr {
                th { "User" } th { "Role" } th { "Last seen" } th.num { "Online" }
                th { "Sessions" } th { "App passwords" } th { "Actions" }
            } }
            tbody {
                @for user in shown { (user_row(user, csrf)) }
            }
        }
    }
}

fn user_row(user: &UserRow, csrf: &str) -> Markup {
    let base = format!("/admin/users/{}", user.id);
    html! {
        tr #(format!("user-{}", user.id)) {
            td {
                (user.email)
                @if let Some(name) = &user.display_name { br; span.muted { (name) } }
            }
            td.role {
                span.badge { (user.role) }
                @if user.disabled { " " span.badge.level-critical.disabled { "disabled" } }
                @if user.unconfirmed { " " span.badge.unconfirmed title="email address not confirmed" { "unconfirmed" } }
            }
            td { (user.last_seen.as_deref().unwrap_or("never")) }
            td.num.online-sockets.online[user.online_sockets > 0] { (user.online_sockets) }
            td.sessions {
                @if user.sessions.is_empty() { span.muted { "none" } }
                @for s in &user.sessions {
                    div { (s.device) " · " span.muted { (s.address) " · " (s.signed_in) } }
                }
            }
            td.app-passwords {
                @if user.app_passwords.is_empty() { span.muted { "none" } }
                @for p in &user.app_passwords {
                    div.app-password {
                        (p.name) " · "
                        span.muted {
                            "made " (p.created) " · "
                            "used " (p.last_used.as_deref().unwrap_or("never"))
                        }
                        " "
                        (action_form(&format!("{base}/app-passwords/{}/revoke", p.id), csrf, "inline app-password-revoke-form", html! {
                            button.danger type="submit" aria-label=(format!("Revoke app password {}", p.name)) { "Revoke" }
                        }))
                    }
                }
            }
            td {
                @if user.is_you {
                    span.muted { "you" }
                } @else {
                    (action_form(&format!("{base}/role"), csrf, "inline role-form", html! {
                        select name="role" aria-label="Role" {
                            @for role in ROLES {
                                option value=(role) selected[role == user.role] { (role) }
                            }
                        }
                        button type="submit" { "Change role" }
                    }))
                    " "
                    (action_form(&format!("{base}/revoke"), csrf, "inline revoke-form", html! {
                        button.danger type="submit" { "Revoke sessions" }
                    }))
                    " "
                    @if user.disabled {
                        (action_form(&format!("{base}/enable"), csrf, "inline enable-form", html! {
                            button type="submit" { "Enable" }
                        }))
                    } @else {
                        (action_form(&format!("{base}/disable"), csrf, "inline disable-form", html! {
                            button.danger type="submit" { "Disable" }
                        }))
                    }
                    " "
                    (action_form(&format!("{base}/reset-link"), csrf, "inline reset-form", html! {
                        button type="submit" { "Reset password" }
                    }))
                    @if user.unconfirmed {
                        " "
                        (action_form(&format!("{base}/confirm-link"), csrf, "inline confirm-link-form", html! {
                            button type="submit" { "Confirmation link" }
                        }))
                    }
                    " "
                    (action_form(&format!("{base}/remove"), csrf, "inline remove-form", html! {
                        // A removal cannot be undone: the box must be ticked (checked again by the server).
                        label.muted title="Their sessions end; what they wrote stays, as from a deleted user." {
                            input type="checkbox" name="confirm" value="yes" required aria-label=(format!("Yes, remove {}", user.email));
                            " sure"
                        }
                        " "
                        button.danger type="submit" { "Remove" }
                    }))
                }
            }
        }
    }
}

fn settings_form(settings: &CommunitySettingsForm, csrf: &str) -> Markup {
    action_form(
        "/admin/community",
        csrf,
        "stack community-form",
        html! {
            label { "Name" input type="text" name="name" value=(settings.name) required maxlength="100"; }
            label { "Slug" input type="text" name="slug" value=(settings.slug) required maxlength="100"; }
            label { "Default language" input type="text" name="default_language" value=(settings.default_language) required maxlength="35" placeholder="pt-BR"; }
            label { "Sign-up"
                select name="registration" {
                    @for (value, label) in REGISTRATIONS {
                        option value=(value) selected[value == settings.registration] { (label) }
                    }
                }
            }
            button #save-community type="submit" { "Save settings" }
        },
    )
}

fn invites(people: &People, csrf: &str) -> Markup {
    html! {
        table {
            thead { tr { th { "Role" } th.num { "Uses" } th { "Expires" } th { "By" } th {} } }
            tbody {
                @if people.invites.is_empty() {
                    tr { td colspan="5" .muted { "No open invites." } }
                }
                @for invite in &people.invites {
                    tr #(format!("invite-{}", invite.id)) {
                        td { (invite.role) }
                        td.num { (invite.uses) " / " (invite.max_uses) }
                        td { (invite.expires) }
                        td { (invite.created_by.as_deref().unwrap_or("—")) }
                        td { (action_form(&format!("/admin/invites/{}/revoke", invite.id), csrf, "inline", html! {
                            button.danger type="submit" { "Revoke" }
                        })) }
                    }
                }
            }
        }
    }
}

pub fn page(shell: &Shell, people: &People) -> Markup {
    let regions = regions(people, &shell.csrf_token, Rendering::Page);
    shell_page(
        shell,
        Page::People,
        html! {
            h2 { "Communities" }
            (PreEscaped(&regions[0].html))
            h2 { "Community settings" }
            (settings_form(&people.settings, &shell.csrf_token))
            h2 { "Users" }
            form.inline method="get" action="/admin/people" {
                input type="search" name="q" value=(people.search) placeholder="email or name" aria-label="Search users";
                button type="submit" { "Search" }
            }
            (PreEscaped(&regions[1].html))
            h2 { "Invites" }
            (action_form("/admin/invites", &shell.csrf_token, "inline", html! {
                select name="role" aria-label="Invite role" {
                    @for role in ROLES { option value=(role) selected[role == "member"] { (role) } }
                }
                input type="number" name="max_uses" value="1" min="1" max="1000" aria-label="Uses";
                input type="number" name="expires_in_days" value="7" min="1" max="365" aria-label="Days valid";
                button #create-invite type="submit" { "Create invite" }
            }))
            (PreEscaped(&regions[2].html))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppPasswordRow, InviteRow, SessionRow};

    fn sample() -> People {
        People {
            users: vec![
                UserRow {
                    id: "u1".into(),
                    email: "ana@example.org".into(),
                    role: "admin".into(),
                    is_you: true,
                    ..UserRow::default()
                },
                UserRow {
                    id: "u2".into(),
                    email: "bia<b>@example.org".into(),
                    role: "member".into(),
                    online_sockets: 2,
                    disabled: true,
                    unconfirmed: true,
                    sessions: vec![SessionRow {
                        device: "phone".into(),
                        address: "10.0.0.2".into(),
                        signed_in: "today".into(),
                    }],
                    app_passwords: vec![AppPasswordRow {
                        id: "p1".into(),
                        name: "laptop <old>".into(),
                        created: "today".into(),
                        last_used: None,
                    }],
                    ..UserRow::default()
                },
            ],
            invites: vec![InviteRow {
                id: "i1".into(),
                role: "guest".into(),
                uses: 0,
                max_uses: 3,
                ..InviteRow::default()
            }],
            ..People::default()
        }
    }

    #[test]
    fn rows_have_ids_actions_carry_the_token_and_you_cannot_act_on_yourself() {
        let html = regions(&sample(), "tok", Rendering::Push)[1].html.clone();
        assert!(html.contains(r#"<tr id="user-u2">"#), "{html}");
        assert!(html.contains("bia&lt;b&gt;@example.org"), "{html}");
        assert!(
            html.contains(r#"action="/admin/users/u2/revoke""#),
            "{html}"
        );
        assert!(html.contains(r#"name="csrf_token" value="tok""#), "{html}");
        assert!(
            html.contains(r#"action="/admin/users/u2/app-passwords/p1/revoke""#),
            "{html}"
        );
        assert!(html.contains("laptop &lt;old&gt;"), "{html}");
        assert!(html.contains("used never"), "{html}");
        assert!(!html.contains("/admin/users/u1/revoke"), "{html}");
        assert!(
            html.contains(r#"<option value="member" selected>member</option>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"class="num online-sockets online">2<"#),
            "{html}"
        );
        assert!(
            html.contains(r#"action="/admin/users/u2/remove""#),
            "{html}"
        );
        assert!(
            html.contains(r#"action="/admin/users/u2/confirm-link""#),
            "{html}"
        );
        assert!(!html.contains("/admin/users/u1/confirm-link"), "{html}");
        assert!(!html.contains("/admin/users/u1/remove"), "{html}");
    }

    #[test]
    fn the_settings_form_shows_the_current_values() {
        let html = settings_form(
            &CommunitySettingsForm {
                name: "Aldeia <Nova>".into(),
                slug: "aldeia-nova".into(),
                default_language: "pt-BR".into(),
                registration: "open".into(),
            },
            "tok",
        )
        .into_string();
        assert!(html.contains(r#"action="/admin/community""#), "{html}");
        assert!(html.contains(r#"value="Aldeia &lt;Nova&gt;""#), "{html}");
        assert!(html.contains(r#"<option value="open" selected>"#), "{html}");
        assert!(html.contains(r#"name="csrf_token" value="tok""#), "{html}");
    }

    #[test]
    fn search_filters_the_users_shown() {
        let mut people = sample();
        people.search = "BIA".into();
        let html = regions(&people, "tok", Rendering::Page)[1].html.clone();
        assert!(
            html.contains("user-u2") && !html.contains("user-u1"),
            "{html}"
        );
        let invites = regions(&people, "tok", Rendering::Page)[2].html.clone();
        assert!(invites.contains(r#"<tr id="invite-i1">"#), "{invites}");
    }
}
