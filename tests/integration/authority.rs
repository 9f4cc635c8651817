//! The permission table written from Oracle's IAM policy reference
//! (`tests/fixtures/authority/table.json`) against the emulator over HTTP: for every row, a
//! fresh emulator seeded with the table's world and the row's policy, and one signed request
//! as `dana`. The planner runs the same table in `plan::authority::tests`, so the two are
//! each checked against the reference, not against each other.

use ociam::keygen;
use serde_json::{Value, json};

use super::emulator::{Api, Reply, Running, Signer};

const WORLD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/authority/world.json"
));
const TABLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/authority/table.json"
));

/// The OCID of `name` (a user or group) in the world.
fn id_of(world: &Value, kind: &str, name: &str) -> String {
    world[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"].as_str().unwrap().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in the world"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Keys {
    dana: keygen::GeneratedKey,
    bob: keygen::GeneratedKey,
    extra: keygen::GeneratedKey,
}

/// The world with the row's policy, dana's groups as the row says, and keys for dana and bob.
fn seed(world: &Value, row: &Value, keys: &Keys) -> Value {
    let mut seed = world.clone();
    let tenancy = world["tenancy"].as_str().unwrap().to_owned();
    let dana = id_of(world, "users", "dana");
    let bob = id_of(world, "users", "bob");
    seed["api_keys"] = json!({
        dana.clone(): [{"fingerprint": keys.dana.fingerprint.as_str(), "keyValue": keys.dana.public_spki_pem}],
        bob: [{"fingerprint": keys.bob.fingerprint.as_str(), "keyValue": keys.bob.public_spki_pem}],
    });
    seed["policies"] = json!([{
        "id": "ocid1.policy.oc1..row", "compartmentId": tenancy,
        "name": format!("row-{}", row["row"]), "description": "the row's statements",
        "statements": row["statements"], "lifecycleState": "ACTIVE"
    }]);
    if let Some(groups) = row["actor_groups"].as_array() {
        let memberships = seed["memberships"].as_array_mut().unwrap();
        memberships.retain(|m| m["userId"] != dana.as_str());
        for (i, g) in groups.iter().enumerate() {
            memberships.push(json!({
                "id": format!("ocid1.groupmembership.oc1..dana{i}"), "compartmentId": tenancy,
                "userId": dana, "groupId": id_of(world, "groups", g.as_str().unwrap()),
                "lifecycleState": "ACTIVE"
            }));
        }
    }
    seed
}

/// Sends the row's operation as `dana`.
async fn request(api: &Api, dana: &Signer, world: &Value, row: &Value, keys: &Keys) -> Reply {
    let tenancy = world["tenancy"].as_str().unwrap();
    let target = &row["target"];
    let user = target["user"].as_str().map(|u| id_of(world, "users", u));
    let group = target["group"].as_str().map(|g| id_of(world, "groups", g));
    let user_path = || format!("/users/{}", user.as_deref().unwrap());
    let group_path = || format!("/groups/{}", group.as_deref().unwrap());
    let op = row["operation"].as_str().unwrap();
    match op {
        "ListUsers" => {
            api.get(dana, &format!("/users?compartmentId={tenancy}"))
                .await
        }
        "GetUser" => api.get(dana, &user_path()).await,
        "CreateUser" => {
            let body =
                json!({"compartmentId": tenancy, "name": target["new_user"], "description": "new"});
            api.post(dana, "/users", &body).await
        }
        "UpdateUser" => {
            api.put(dana, &user_path(), &json!({"description": "changed"}))
                .await
        }
        "DeleteUser" => api.delete(dana, &user_path()).await,
        "UpdateUserState" => {
            let path = format!("{}/state", user_path());
            api.put(dana, &path, &json!({"blocked": false})).await
        }
        "UpdateUserCapabilities" => {
            let path = format!("{}/capabilities", user_path());
            api.put(dana, &path, &json!({"canUseConsolePassword": false}))
                .await
        }
        "ListApiKeys" => api.get(dana, &format!("{}/apiKeys", user_path())).await,
        "UploadApiKey" => {
            let path = format!("{}/apiKeys", user_path());
            api.post(dana, &path, &json!({"key": keys.extra.public_spki_pem}))
                .await
        }
        "DeleteApiKey" => {
            let fp = if target["user"] == "dana" {
                &keys.dana.fingerprint
            } else {
                &keys.bob.fingerprint
            };
            api.delete(dana, &format!("{}/apiKeys/{fp}", user_path()))
                .await
        }
        "CreateOrResetUIPassword" => {
            api.post(dana, &format!("{}/uiPassword", user_path()), &Value::Null)
                .await
        }
        "ListGroups" => {
            api.get(dana, &format!("/groups?compartmentId={tenancy}"))
                .await
        }
        "GetGroup" => api.get(dana, &group_path()).await,
        "CreateGroup" => {
            let body = json!({"compartmentId": tenancy, "name": target["new_group"], "description": "new"});
            api.post(dana, "/groups", &body).await
        }
        "UpdateGroup" => {
            api.put(dana, &group_path(), &json!({"description": "changed"}))
                .await
        }
        "DeleteGroup" => api.delete(dana, &group_path()).await,
        "AddUserToGroup" => {
            let body = json!({"userId": user, "groupId": group});
            api.post(dana, "/userGroupMemberships", &body).await
        }
        "RemoveUserFromGroup" => {
            let membership = world["memberships"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| {
                    m["userId"].as_str() == user.as_deref()
                        && m["groupId"].as_str() == group.as_deref()
                })
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            api.delete(dana, &format!("/userGroupMemberships/{membership}"))
                .await
        }
        "ListUserGroupMemberships" => {
            let developers = id_of(world, "groups", "developers");
            let path =
                format!("/userGroupMemberships?compartmentId={tenancy}&groupId={developers}");
            api.get(dana, &path).await
        }
        "ListPolicies" => {
            api.get(dana, &format!("/policies?compartmentId={tenancy}"))
                .await
        }
        other => panic!("the table names an operation this test cannot send: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_row_is_decided_by_the_emulator_as_oracles_reference_says() {
    let world: Value = serde_json::from_str(WORLD).unwrap();
    let table: Value = serde_json::from_str(TABLE).unwrap();
    let rows = table["rows"].as_array().unwrap();
    assert!(rows.len() >= 40);
    let keys = Keys {
        dana: keygen::generate_rsa_2048().unwrap(),
        bob: keygen::generate_rsa_2048().unwrap(),
        extra: keygen::generate_rsa_2048().unwrap(),
    };
    let tenancy = world["tenancy"].as_str().unwrap();
    let dana_id = id_of(&world, "users", "dana");
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for row in rows {
        let n = &row["row"];
        let data = dir.path().join(format!("row-{n}"));
        let emu = Running::start(&data, Some(&seed(&world, row, &keys)), |_| {}).await;
        let dana = Signer::new(&keys.dana.private_pkcs8_pem, tenancy, &dana_id);
        let reply = request(&emu.api, &dana, &world, row, &keys).await;
        let allowed = (200..300).contains(&reply.status);
        let refused = reply.status == 404 && reply.code() == "NotAuthorizedOrNotFound";
        let want = row["allowed"].as_bool().unwrap();
        if (want && !allowed) || (!want && !refused) {
            wrong.push(format!(
                "row {n} ({}): {} expected {}, got {} {}",
                row["source"], row["operation"], want, reply.status, reply.json
            ));
        }
        emu.stop().await;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
