//! The axum routes of the Identity API subset and their handlers, each thin: decode the query
//! or JSON body → one store call on a blocking thread → encode the reply (status, `etag`,
//! `location`, `opc-next-page`) or the OCI error body `{"code", "message"}`.
//!
//! Paths accept an optional trailing slash. Decoding and encoding helpers live in
//! [`super::http`].
//!
//! Must not: hold business rules (they live in the store) or log bodies.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get};
use serde_json::Value;

use super::http::{
    Answer, ApiError, Ctx, Id, Ids, Params, bad_type, capabilities, defined, freeform,
    nullable_string, object, one_time_password, refuse_name, reply_response, string,
};
use super::store::{
    GroupFilter, GroupPatch, MembershipFilter, NewGroup, NewUser, Page, Reply, StoreError, Tx,
    UserFilter, UserPatch,
};
use super::{API_PREFIX, AppState};

// ---------------------------------------------------------------------------------------------
// Running store calls

async fn read(
    app: &AppState,
    ctx: &Ctx,
    f: impl FnOnce(&Tx<'_>) -> Result<Reply, StoreError> + Send + 'static,
) -> Answer {
    let store = app.store.clone();
    let actor = ctx.user.clone();
    let result = tokio::task::spawn_blocking(move || store.read(&actor, f))
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(reply_response(result?))
}

async fn write(
    app: &AppState,
    ctx: &Ctx,
    operation: &'static str,
    retryable: bool,
    f: impl FnOnce(&Tx<'_>) -> Result<Reply, StoreError> + Send + 'static,
) -> Answer {
    let retry = if retryable {
        ctx.retry_key(operation)?
    } else {
        None
    };
    let store = app.store.clone();
    let actor = ctx.user.clone();
    let result = tokio::task::spawn_blocking(move || store.write(&actor, retry.as_ref(), f))
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(reply_response(result?))
}

fn single<T: serde::Serialize>((value, etag): (T, String)) -> Result<Reply, StoreError> {
    Ok(Reply::ok(&value)?.with_etag(etag))
}

fn list<T: serde::Serialize>(page: Page<T>, limit: usize) -> Result<Reply, StoreError> {
    let mut reply = Reply::ok(&page.items)?;
    reply.next_page = page.next;
    reply.limit = Some(limit);
    Ok(reply)
}

// ---------------------------------------------------------------------------------------------
// Routes

/// Every route under [`API_PREFIX`], each with and without a trailing slash, plus OCI-shaped
/// answers for unknown paths (404) and methods (405).
pub fn routes() -> Router<AppState> {
    let table: Vec<(&str, MethodRouter<AppState>)> = vec![
        ("/users", get(list_users).post(create_user)),
        (
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        ),
        (
            "/users/{id}/capabilities",
            axum::routing::put(update_capabilities),
        ),
        ("/users/{id}/state", axum::routing::put(update_state)),
        (
            "/users/{id}/apiKeys",
            get(list_api_keys).post(upload_api_key),
        ),
        (
            "/users/{id}/apiKeys/{fingerprint}",
            axum::routing::delete(delete_api_key),
        ),
        (
            "/users/{id}/uiPassword",
            get(ui_password_information).post(create_ui_password),
        ),
        ("/groups", get(list_groups).post(create_group)),
        (
            "/groups/{id}",
            get(get_group).put(update_group).delete(delete_group),
        ),
        (
            "/userGroupMemberships",
            get(list_memberships).post(add_user_to_group),
        ),
        (
            "/userGroupMemberships/{id}",
            get(get_membership).delete(remove_membership),
        ),
        ("/policies", get(list_policies)),
        ("/domains", get(list_domains)),
        ("/policies/{id}", get(get_policy)),
        ("/tenancies/{id}", get(get_tenancy)),
        (
            "/tenancies/{id}/regionSubscriptions",
            get(region_subscriptions),
        ),
    ];
    let mut router = Router::new();
    for (path, methods) in table {
        let full = format!("{API_PREFIX}{path}");
        router = router
            .route(&format!("{full}/"), methods.clone())
            .route(&full, methods);
    }
    router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The method is not allowed on this resource",
            )
        })
}

// ---- users

async fn list_users(State(app): State<AppState>, ctx: Ctx, q: Params) -> Answer {
    let filter = UserFilter {
        compartment_id: q.get("compartmentId"),
        name: q.get("name"),
        lifecycle_state: q.get("lifecycleState"),
        identity_provider_id: q.get("identityProviderId"),
        external_identifier: q.get("externalIdentifier"),
    };
    let page = q.page(app.page_size)?;
    read(&app, &ctx, move |tx| {
        list(tx.list_users(&filter, &page)?, page.limit)
    })
    .await
}

async fn create_user(State(app): State<AppState>, ctx: Ctx) -> Answer {
    let body = object(&ctx.body)?;
    let new = NewUser {
        compartment_id: string(&body, "compartmentId")?,
        name: string(&body, "name")?,
        description: string(&body, "description")?,
        email: string(&body, "email")?,
        freeform_tags: freeform(&body, "freeformTags")?.unwrap_or_default(),
        defined_tags: defined(&body, "definedTags")?.unwrap_or_default(),
    };
    let base = ctx.base();
    write(&app, &ctx, "CreateUser", true, move |tx| {
        let (user, etag) = tx.create_user(new)?;
        let location = format!("{base}/users/{}", user.id);
        Ok(single((user, etag))?.with_location(location))
    })
    .await
}

async fn get_user(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| single(tx.get_user(&id)?)).await
}

async fn update_user(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let body = object(&ctx.body)?;
    refuse_name(&body, "user")?;
    let patch = UserPatch {
        description: string(&body, "description")?,
        email: nullable_string(&body, "email")?,
        db_user_name: nullable_string(&body, "dbUserName")?,
        freeform_tags: freeform(&body, "freeformTags")?,
        defined_tags: defined(&body, "definedTags")?,
    };
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "UpdateUser", false, move |tx| {
        single(tx.update_user(&id, if_match.as_deref(), patch)?)
    })
    .await
}

async fn update_capabilities(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let patch = capabilities(&object(&ctx.body)?)?;
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "UpdateUserCapabilities", false, move |tx| {
        single(tx.update_user_capabilities(&id, if_match.as_deref(), &patch)?)
    })
    .await
}

async fn update_state(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let body = object(&ctx.body)?;
    let blocked = match body.get("blocked") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad_type("blocked", "true or false")),
    };
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "UpdateUserState", false, move |tx| {
        single(tx.update_user_state(&id, if_match.as_deref(), blocked)?)
    })
    .await
}

async fn delete_user(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "DeleteUser", false, move |tx| {
        tx.delete_user(&id, if_match.as_deref())?;
        Ok(Reply::no_content())
    })
    .await
}

// ---- API keys and UI password

async fn list_api_keys(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| Reply::ok(&tx.list_api_keys(&id)?)).await
}

async fn upload_api_key(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let body = object(&ctx.body)?;
    let pem = string(&body, "key")?
        .ok_or_else(|| ApiError::from(StoreError::MissingParameter("key is required".into())))?;
    let base = ctx.base();
    write(&app, &ctx, "UploadApiKey", true, move |tx| {
        let (key, etag) = tx.upload_api_key(&id, &pem)?;
        let location = format!(
            "{base}/users/{id}/keys/{}",
            key.key_id.as_deref().unwrap_or_default()
        );
        Ok(single((key, etag))?.with_location(location))
    })
    .await
}

async fn delete_api_key(State(app): State<AppState>, ctx: Ctx, Ids(id, fp): Ids) -> Answer {
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "DeleteApiKey", false, move |tx| {
        tx.delete_api_key(&id, &fp, if_match.as_deref())?;
        Ok(Reply::no_content())
    })
    .await
}

async fn create_ui_password(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let password = one_time_password()?;
    let base = ctx.base();
    write(&app, &ctx, "CreateOrResetUIPassword", true, move |tx| {
        let location = format!("{base}/users/{id}/uiPassword");
        Ok(single(tx.create_ui_password(&id, &password)?)?.with_location(location))
    })
    .await
}

async fn ui_password_information(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| {
        single(tx.ui_password_information(&id)?)
    })
    .await
}

// ---- identity domains

async fn list_domains(State(app): State<AppState>, ctx: Ctx, q: Params) -> Answer {
    let compartment = q.get("compartmentId");
    read(&app, &ctx, move |tx| {
        Reply::ok(&tx.list_domains(compartment.as_deref())?)
    })
    .await
}

// ---- groups and memberships

fn group_filter(q: &Params) -> GroupFilter {
    GroupFilter {
        compartment_id: q.get("compartmentId"),
        name: q.get("name"),
        lifecycle_state: q.get("lifecycleState"),
    }
}

async fn list_groups(State(app): State<AppState>, ctx: Ctx, q: Params) -> Answer {
    let filter = group_filter(&q);
    let page = q.page(app.page_size)?;
    read(&app, &ctx, move |tx| {
        list(tx.list_groups(&filter, &page)?, page.limit)
    })
    .await
}

async fn create_group(State(app): State<AppState>, ctx: Ctx) -> Answer {
    let body = object(&ctx.body)?;
    let new = NewGroup {
        compartment_id: string(&body, "compartmentId")?,
        name: string(&body, "name")?,
        description: string(&body, "description")?,
        freeform_tags: freeform(&body, "freeformTags")?.unwrap_or_default(),
        defined_tags: defined(&body, "definedTags")?.unwrap_or_default(),
    };
    let base = ctx.base();
    write(&app, &ctx, "CreateGroup", true, move |tx| {
        let (group, etag) = tx.create_group(new)?;
        let location = format!("{base}/groups/{}", group.id);
        Ok(single((group, etag))?.with_location(location))
    })
    .await
}

async fn get_group(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| single(tx.get_group(&id)?)).await
}

async fn update_group(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let body = object(&ctx.body)?;
    refuse_name(&body, "group")?;
    let patch = GroupPatch {
        description: string(&body, "description")?,
        freeform_tags: freeform(&body, "freeformTags")?,
        defined_tags: defined(&body, "definedTags")?,
    };
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "UpdateGroup", false, move |tx| {
        single(tx.update_group(&id, if_match.as_deref(), patch)?)
    })
    .await
}

async fn delete_group(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "DeleteGroup", false, move |tx| {
        tx.delete_group(&id, if_match.as_deref())?;
        Ok(Reply::no_content())
    })
    .await
}

async fn list_memberships(State(app): State<AppState>, ctx: Ctx, q: Params) -> Answer {
    let filter = MembershipFilter {
        compartment_id: q.get("compartmentId"),
        user_id: q.get("userId"),
        group_id: q.get("groupId"),
    };
    let page = q.page(app.page_size)?;
    read(&app, &ctx, move |tx| {
        list(tx.list_memberships(&filter, &page)?, page.limit)
    })
    .await
}

async fn add_user_to_group(State(app): State<AppState>, ctx: Ctx) -> Answer {
    let body = object(&ctx.body)?;
    let user = string(&body, "userId")?;
    let group = string(&body, "groupId")?;
    let base = ctx.base();
    write(&app, &ctx, "AddUserToGroup", true, move |tx| {
        let (m, etag) = tx.add_user_to_group(user.as_deref(), group.as_deref())?;
        let location = format!("{base}/userGroupMemberships/{}", m.id);
        Ok(single((m, etag))?.with_location(location))
    })
    .await
}

async fn get_membership(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| single(tx.get_membership(&id)?)).await
}

async fn remove_membership(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    let if_match = ctx.if_match.clone();
    write(&app, &ctx, "RemoveUserFromGroup", false, move |tx| {
        tx.remove_membership(&id, if_match.as_deref())?;
        Ok(Reply::no_content())
    })
    .await
}

// ---- policies and tenancy

async fn list_policies(State(app): State<AppState>, ctx: Ctx, q: Params) -> Answer {
    let filter = group_filter(&q);
    let page = q.page(app.page_size)?;
    read(&app, &ctx, move |tx| {
        list(tx.list_policies(&filter, &page)?, page.limit)
    })
    .await
}

async fn get_policy(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| single(tx.get_policy(&id)?)).await
}

async fn get_tenancy(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| Reply::ok(&tx.get_tenancy(&id)?)).await
}

async fn region_subscriptions(State(app): State<AppState>, ctx: Ctx, Id(id): Id) -> Answer {
    read(&app, &ctx, move |tx| {
        Reply::ok(&tx.region_subscriptions(&id)?)
    })
    .await
}
