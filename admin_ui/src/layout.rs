//! The frame around every signed-in page: head (assets, htmx configuration), navigation, the
//! flash message, and the element holding the page's live socket.

use maud::{html, Markup, DOCTYPE};

use crate::assets;
use crate::model::{Flash, Page, Shell};

/// htmx 4 configuration: no injected indicator stylesheet (our CSP allows no inline styles),
/// only the WebSocket extension, and error responses are swapped (they carry a message).
const HTMX_CONFIG: &str = r#"{"includeIndicatorCSS":false,"extensions":"ws"}"#;

/// The `<head>`: one stylesheet and two scripts, all served by the panel itself.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=(HTMX_CONFIG);
            title { (title) " · Tainá admin" }
            link rel="stylesheet" href=(assets::href(assets::STYLESHEET));
            script src=(assets::href(assets::HTMX)) defer {}
            script src=(assets::href(assets::HTMX_WS)) defer {}
        }
    }
}

/// A whole signed-in page around `content`. The hidden `#live` element opens the page's
/// socket; what the server pushes on it are out-of-band regions, so `#live` itself stays
/// empty.
pub fn page(shell: &Shell, current: Page, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(current.title()))
            body {
                header {
                    span.brand { "Tainá" }
                    nav {
                        @for page in Page::ALL {
                            @if page == current {
                                a href=(page.path()) aria-current="page" { (page.title()) }
                            } @else {
                                a href=(page.path()) { (page.title()) }
                            }
                        }
                    }
                    span.who {
                        span #live-status .muted { "connecting…" }
                        span { (shell.admin_email) " · " (shell.community_name) }
                        form.inline method="post" action="/admin/signout" {
                            input type="hidden" name="csrf_token" value=(shell.csrf_token);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    div #flash { @if let Some(flash) = &shell.flash { (flash_message(flash)) } }
                    h1 { (current.title()) }
                    (content)
                }
                div #live hidden hx-ws:connect=(format!("/admin/live?page={}", current.slug())) {}
            }
        }
    }
}

/// The body of `#flash`.
pub fn flash_message(flash: &Flash) -> Markup {
    html! {
        div.flash.error[!flash.ok] role=(if flash.ok { "status" } else { "alert" }) {
            (flash.text)
            @if let Some(detail) = &flash.detail { code { (detail) } }
        }
    }
}

/// `#flash` replaced out of band: the answer to an action posted by htmx.
pub fn flash_push(flash: &Flash) -> Markup {
    html! {
        div #flash hx-swap-oob="true" { (flash_message(flash)) }
    }
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// A form that posts to `action` with its CSRF token: a normal POST without JavaScript, an
/// htmx request (answered with fragments, no page load) with it.
pub fn action_form(action: &str, token: &str, class: &str, fields: Markup) -> Markup {
    html! {
        form class=(class) method="post" action=(action) hx-post=(action) {
            (csrf_field(token))
            (fields)
        }
    }
}

/// Marks the live socket as connected (pushed first on every connection).
pub fn live_status(connected_at: &str) -> Markup {
    html! {
        span #live-status .online hx-swap-oob="true" title=(format!("live since {connected_at}")) { "live" }
    }
}
