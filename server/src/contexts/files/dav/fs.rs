//! The files service as a `dav-server` filesystem: every WebDAV operation is a service call as
//! the signed-in caller, in one space, so the rules, the journal and the quota are the same as
//! over GraphQL and HTTP.

use dav_server::davpath::DavPath;
use std::future::Future;
use std::pin::Pin;

use axum::http::StatusCode;
use dav_server::fs::{
    DavDirEntry, DavFile, DavMetaData, DavProp, FsError, FsFuture, FsResult, FsStream,
    GuardedFileSystem, OpenOptions, ReadDirMeta,
};
use futures_util::stream;

use super::file::{NodeMeta, ReadFile, WriteFile};
use crate::contexts::auth::Principal;
use crate::contexts::files::properties::Property;
use crate::contexts::files::{sort_key, FilesError, FilesService, Node, Space, MAX_LIST_PAGE};
use crate::contexts::media::MediaError;

/// Who is asking, in which space: the credentials of one WebDAV request.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    pub space: Space,
}

/// The WebDAV status for a service error (dav-server turns these into HTTP statuses: a missing
/// parent becomes 409 for PUT and MKCOL, as RFC 4918 asks).
pub fn fs_error(error: FilesError) -> FsError {
    match error {
        FilesError::NotFound | FilesError::ParentMissing => FsError::NotFound,
        FilesError::NameTaken(_) => FsError::Exists,
        FilesError::Media(MediaError::QuotaExceeded { .. }) => FsError::InsufficientStorage,
        FilesError::Media(MediaError::TooLarge { .. }) => FsError::TooLarge,
        FilesError::InvalidName(_)
        | FilesError::Invalid(_)
        | FilesError::IntoItself
        | FilesError::WrongKind(_)
        | FilesError::Forbidden
        | FilesError::GuestsMayNot(_)
        | FilesError::BadAppPassword
        | FilesError::StaleCursor
        | FilesError::Locked { .. } => FsError::Forbidden,
        other => {
            tracing::warn!(error = %other, "webdav: a files operation failed");
            FsError::GeneralFailure
        }
    }
}

/// The path inside the space (`/a/b`), from WebDAV's decoded path.
pub(super) fn path_of(path: &DavPath) -> FsResult<String> {
    let bytes = path.as_bytes();
    let text = std::str::from_utf8(bytes).map_err(|_| FsError::NotFound)?;
    Ok(text.trim_end_matches('/').to_string())
}

#[derive(Clone)]
pub struct FilesFs {
    pub files: FilesService,
}

impl FilesFs {
    async fn node(&self, path: &DavPath, caller: &Caller) -> FsResult<Node> {
        let path = path_of(path)?;
        self.files
            .node_by_path(&caller.principal, &caller.space.id, &path)
            .await
            .map_err(fs_error)
    }
}

struct Entry {
    name: String,
    meta: NodeMeta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }

    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(self.meta.clone());
        Box::pin(async move { Ok(meta) })
    }
}

impl GuardedFileSystem<Caller> for FilesFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
        caller: &'a Caller,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        Box::pin(async move {
            let existing = match self.node(path, caller).await {
                Ok(node) => Some(node),
                Err(FsError::NotFound) => None,
                Err(e) => return Err(e),
            };
            if !options.write {
                let node = existing.ok_or(FsError::NotFound)?;
                if node.is_folder() {
                    return Err(FsError::Forbidden);
                }
                let file: Box<dyn DavFile> = Box::new(ReadFile {
                    files: self.files.clone(),
                    caller: caller.clone(),
                    node,
                    position: 0,
                    reading: None,
                });
                return Ok(file);
            }
            match &existing {
                Some(node) if node.is_folder() => return Err(FsError::Forbidden),
                Some(_) if options.create_new => return Err(FsError::Exists),
                None if !options.create && !options.create_new => return Err(FsError::NotFound),
                _ => {}
            }
            if options.append || (existing.is_some() && !options.truncate) {
                // Appending or patching in place would need the old bytes copied first.
                return Err(FsError::NotImplemented);
            }
            let target = path_of(path)?;
            // The parent must exist before any byte is received (409 otherwise).
            let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
            let parent = if parent.is_empty() { "/" } else { parent };
            let folder = self
                .files
                .node_by_path(&caller.principal, &caller.space.id, parent)
                .await
                .map_err(fs_error)?;
            if !folder.is_folder() {
                return Err(FsError::NotFound);
            }
            if let Some(size) = options.size {
                self.files
                    .check_room(&caller.principal, &caller.space.id, size)
                    .await
                    .map_err(fs_error)?;
            }
            let ingest = self
                .files
                .begin_upload(&caller.principal, &caller.space.id)
                .await
                .map_err(fs_error)?;
            let file: Box<dyn DavFile> = Box::new(WriteFile {
                files: self.files.clone(),
                caller: caller.clone(),
                path: target,
                expected: options.size,
                written: 0,
                ingest: Some(std::sync::Mutex::new(ingest)),
                stored: None,
            });
            Ok(file)
        })
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
        caller: &'a Caller,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        Box::pin(async move {
            let folder = self.node(path, caller).await?;
            if !folder.is_folder() {
                return Err(FsError::Forbidden);
            }
            let mut entries: Vec<FsResult<Box<dyn DavDirEntry>>> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .files
                    .list(
                        &caller.principal,
                        &folder.id,
                        after.as_deref(),
                        MAX_LIST_PAGE,
                    )
                    .await
                    .map_err(fs_error)?;
                let full = page.len() as u32 == MAX_LIST_PAGE;
                if let Some(last) = page.last() {
                    after = Some(sort_key(last));
                }
                for node in page {
                    entries.push(Ok(Box::new(Entry {
                        meta: NodeMeta::of(&node),
                        name: node.name,
                    })));
                }
                if !full {
                    break;
                }
            }
            let entries: FsStream<Box<dyn DavDirEntry>> = Box::pin(stream::iter(entries));
            Ok(entries)
        })
    }

    fn metadata<'a>(
        &'a self,
        path: &'a DavPath,
        caller: &'a Caller,
    ) -> FsFuture<'a, Box<dyn DavMetaData>> {
        Box::pin(async move {
            let node = self.node(path, caller).await?;
            let meta: Box<dyn DavMetaData> = Box::new(NodeMeta::of(&node));
            Ok(meta)
        })
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath, caller: &'a Caller) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let target = path_of(path)?;
            if target.is_empty() {
                return Err(FsError::Exists);
            }
            self.files
                .create_folder(&caller.principal, &caller.space.id, &target)
                .await
                .map(|_| ())
                .map_err(fs_error)
        })
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath, caller: &'a Caller) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let node = self.node(path, caller).await?;
            self.files
                .delete(&caller.principal, &node.id)
                .await
                .map_err(fs_error)
        })
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath, caller: &'a Caller) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let node = self.node(path, caller).await?;
            self.files
                .delete(&caller.principal, &node.id)
                .await
                .map_err(fs_error)
        })
    }

    fn rename<'a>(
        &'a self,
        from: &'a DavPath,
        to: &'a DavPath,
        caller: &'a Caller,
    ) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let node = self.node(from, caller).await?;
            let target = path_of(to)?;
            self.files
                .move_node(&caller.principal, &node.id, &target)
                .await
                .map(|_| ())
                .map_err(fs_error)
        })
    }

    fn copy<'a>(
        &'a self,
        from: &'a DavPath,
        to: &'a DavPath,
        caller: &'a Caller,
    ) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let node = self.node(from, caller).await?;
            let target = path_of(to)?;
            if node.is_folder() {
                // dav-server copies folders entry by entry; this is for one file.
                return Err(FsError::Forbidden);
            }
            self.files
                .copy_node(&caller.principal, &node.id, &target)
                .await
                .map(|_| ())
                .map_err(fs_error)
        })
    }

    fn get_quota<'a>(&'a self, caller: &'a Caller) -> FsFuture<'a, (u64, Option<u64>)> {
        Box::pin(async move {
            let budget = self
                .files
                .upload_budget(&caller.principal, &caller.space.id)
                .await
                .map_err(fs_error)?;
            Ok(match budget.quota {
                Some(q) => (q.used, Some(q.quota)),
                None => (0, None),
            })
        })
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
        _caller: &'a Caller,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        // Every node can carry dead properties (whether the caller may set them is decided
        // in `patch_props`).
        Box::pin(std::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
        caller: &'a Caller,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        Box::pin(async move {
            let path = path_of(path)?;
            let answer: Vec<DavProp> = patch.iter().map(|(_, p)| without_value(p)).collect();
            let patch = patch
                .into_iter()
                .map(|(set, p)| (set, property(p)))
                .collect();
            let status = match self
                .files
                .patch_properties(&caller.principal, &caller.space, &path, patch)
                .await
            {
                Ok(()) => StatusCode::OK,
                Err(FilesError::NotFound) => return Err(FsError::NotFound),
                Err(FilesError::Locked { .. }) => StatusCode::LOCKED,
                Err(FilesError::Invalid(_)) => StatusCode::INSUFFICIENT_STORAGE,
                Err(FilesError::GuestsMayNot(_) | FilesError::Forbidden) => StatusCode::FORBIDDEN,
                Err(e) => return Err(fs_error(e)),
            };
            Ok(answer.into_iter().map(|p| (status, p)).collect())
        })
    }

    fn get_props<'a>(
        &'a self,
        path: &'a DavPath,
        do_content: bool,
        caller: &'a Caller,
    ) -> FsFuture<'a, Vec<DavProp>> {
        Box::pin(async move {
            let path = path_of(path)?;
            let props = self
                .files
                .properties(&caller.principal, &caller.space, &path)
                .await
                .map_err(fs_error)?;
            Ok(props
                .into_iter()
                .map(|p| {
                    let prop = dav_prop(p);
                    if do_content {
                        prop
                    } else {
                        without_value(&prop)
                    }
                })
                .collect())
        })
    }

    fn get_prop<'a>(
        &'a self,
        path: &'a DavPath,
        prop: DavProp,
        caller: &'a Caller,
    ) -> FsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let path = path_of(path)?;
            let namespace = prop.namespace.unwrap_or_default();
            self.files
                .properties(&caller.principal, &caller.space, &path)
                .await
                .map_err(fs_error)?
                .into_iter()
                .find(|p| p.namespace == namespace && p.name == prop.name)
                .map(|p| p.xml)
                .ok_or(FsError::NotFound)
        })
    }
}

/// A stored dead property from WebDAV's form.
fn property(p: DavProp) -> Property {
    Property {
        namespace: p.namespace.unwrap_or_default(),
        name: p.name,
        prefix: p.prefix,
        xml: p.xml.unwrap_or_default(),
    }
}

fn dav_prop(p: Property) -> DavProp {
    DavProp {
        name: p.name,
        prefix: p.prefix,
        namespace: (!p.namespace.is_empty()).then_some(p.namespace),
        xml: Some(p.xml),
    }
}

/// The property's name only, as PROPPATCH answers and `propname` lists it.
fn without_value(p: &DavProp) -> DavProp {
    DavProp {
        name: p.name.clone(),
        prefix: p.prefix.clone(),
        namespace: p.namespace.clone(),
        xml: None,
    }
}
