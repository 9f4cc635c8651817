//! The main job end to end against a live tenancy: the built `ociam` binary talks to a separate
//! `ociam emulator` process (127.0.0.1:0, fresh data directory) through `--config-file
//! <data>/oci-config --endpoint <url>`, exactly as it would talk to OCI.
//!
//! Most tests are state sequences (dnscontrol style): each step applies a manifest, which must
//! exit 0 and report `The tenancy now matches the manifest.`, and then `plan
//! --detailed-exitcode` must exit 0 (the re-plan is empty). Out-of-band changes are made with
//! ociam's own `IdentityClient`, signing as the emulator's admin. Keys are generated at run
//! time; no private key is committed. Nothing here sleeps: every wait is on a process.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ociam::backend::ProfileSpec;
use ociam::keygen::GeneratedKey;
use ociam::model::{GroupName, Membership, Ocid, State, UserName};
use ociam::oci::client::{IdentityClient, MembershipFilter};
use ociam::oci::wire;
use serde_json::{Value, json};

use crate::util::{Emulator, Outcome, copy_dir, days_from, root, run_at, run_in};

const MATCHES: &str = "The tenancy now matches the manifest.";

// ---------------------------------------------------------------------------------------------
// Helpers

/// The value of `key=` in an `oci-config` file.
fn config_value(config: &Path, key: &str) -> String {
    let text = fs::read_to_string(config).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {}:\n{text}", config.display()))
        .trim()
        .to_owned()
}

fn user(name: &str) -> UserName {
    UserName::new(name)
}

fn member(state: &State, u: &str, g: &str) -> bool {
    state.memberships.contains_key(&Membership {
        user: UserName::new(u),
        group: GroupName::new(g),
    })
}

fn keys_of(state: &State, u: &str) -> BTreeSet<String> {
    state
        .api_keys
        .get(&user(u))
        .map(|keys| keys.keys().map(|f| f.as_str().to_owned()).collect())
        .unwrap_or_default()
}

fn fps(keys: &[&GeneratedKey]) -> BTreeSet<String> {
    keys.iter()
        .map(|k| k.fingerprint.as_str().to_owned())
        .collect()
}

/// Runs a future on a fresh single-threaded runtime (the tests themselves are synchronous).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Byte offset of `needle` in `hay`, with a readable failure.
#[track_caller]
fn position(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not found in:\n{hay}"))
}

/// An emulator process plus a working directory for manifests and public keys.
struct Live {
    emu: Emulator,
    tenancy: String,
    dir: tempfile::TempDir,
    secrets: PathBuf,
    /// `OCIAM_NOW` for the emulator and every command, when the clock is moved.
    now: Option<String>,
}

impl Live {
    fn start(extra: &[&str]) -> Self {
        Self::start_at(extra, None)
    }

    /// [`Live::start`] with the emulator and every command at `OCIAM_NOW=now` (`None`: the
    /// inherited clock).
    fn start_at(extra: &[&str], now: Option<&str>) -> Self {
        Self::on(Emulator::start_at(extra, now), now)
    }

    /// A fresh working directory against the running emulator `emu`.
    fn on(emu: Emulator, now: Option<&str>) -> Self {
        let tenancy = config_value(&emu.config_file(), "tenancy");
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("keys")).unwrap();
        let secrets = dir.path().join("secrets");
        Self {
            emu,
            tenancy,
            dir,
            secrets,
            now: now.map(str::to_owned),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `ociam args... --config-file <admin config> --endpoint <url>`, in the working directory.
    fn ociam(&self, args: &[&str]) -> Outcome {
        self.ociam_as(&self.emu.config_file(), args)
    }

    /// The same, signing with another config file.
    fn ociam_as(&self, config: &Path, args: &[&str]) -> Outcome {
        let config = config.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config-file", &config, "--endpoint", &self.emu.url]);
        run_at(self.path(), &all, self.now.as_deref())
    }

    /// `apply FILE --auto-approve --secrets-dir <secrets>` as the admin.
    fn apply(&self, file: &str) -> Outcome {
        self.apply_as(&self.emu.config_file(), file)
    }

    fn apply_as(&self, config: &Path, file: &str) -> Outcome {
        let secrets = self.secrets.display().to_string();
        self.ociam_as(
            config,
            &["apply", file, "--auto-approve", "--secrets-dir", &secrets],
        )
    }

    /// Generates a key pair and writes its public half to `keys/<name>.pem`.
    fn key(&self, name: &str) -> GeneratedKey {
        let key = ociam::keygen::generate_rsa_2048().unwrap();
        fs::write(
            self.path().join("keys").join(format!("{name}.pem")),
            &key.public_spki_pem,
        )
        .unwrap();
        key
    }

    /// Writes `file` = the manifest header for this tenancy + `body`.
    fn manifest(&self, file: &str, body: &str) {
        fs::write(
            self.path().join(file),
            format!("version: 1\ntenancy: {}\n{body}", self.tenancy),
        )
        .unwrap();
    }

    /// One step of a sequence: apply `body` (exit 0, "now matches"), then the re-plan is empty.
    #[track_caller]
    fn step(&self, file: &str, body: &str) -> Outcome {
        self.manifest(file, body);
        let applied = self.apply(file);
        assert_eq!(applied.code, 0, "apply {file}\n{}", applied.transcript());
        assert!(
            applied.stdout.contains(MATCHES),
            "apply {file}\n{}",
            applied.transcript()
        );
        let replan = self.ociam(&["plan", file, "--detailed-exitcode"]);
        assert_eq!(
            replan.code,
            0,
            "re-plan of {file} after apply is not empty\n{}",
            replan.transcript()
        );
        assert!(
            replan.stdout.contains("No changes."),
            "{}",
            replan.transcript()
        );
        applied
    }

    /// The live tenancy as the admin reads it (`ociam snapshot`).
    fn state(&self) -> State {
        let out = self.ociam(&["snapshot"]);
        assert_eq!(out.code, 0, "snapshot\n{}", out.transcript());
        ociam::snapshot::parse(&out.stdout, "snapshot")
            .unwrap()
            .to_state("snapshot")
            .unwrap()
    }

    /// An Identity client signing as the emulator's admin, built from its `oci-config`.
    fn client(&self) -> IdentityClient {
        ociam::backend::connect(&ProfileSpec {
            config_file: self.emu.config_file(),
            profile: "DEFAULT".to_owned(),
            endpoint: Some(self.emu.url.clone()),
            parallelism: 4,
            passphrase_env: None,
            home: None,
        })
        .expect("the emulator's oci-config connects")
        .client
    }

    /// The OCID of live user `name`.
    fn user_id(&self, name: &str) -> Ocid {
        self.state().users[&user(name)]
            .id
            .clone()
            .expect("a live user has an id")
    }

    /// Writes an `oci-config` (the emulator's format) for `name`, signing with `key`.
    fn config_for(&self, name: &str, key: &GeneratedKey) -> PathBuf {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let id = self.user_id(name);
        let dir = self.path().join(format!("{name}-oci"));
        fs::create_dir(&dir).unwrap();
        let key_file = dir.join("key.pem");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_file)
            .unwrap();
        f.write_all(key.private_pkcs8_pem.as_bytes()).unwrap();
        let config = dir.join("oci-config");
        fs::write(
            &config,
            format!(
                "[DEFAULT]\nuser={id}\nfingerprint={}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\n",
                key.fingerprint,
                key_file.display(),
                self.tenancy
            ),
        )
        .unwrap();
        config
    }
}

fn create_user_out_of_band(client: &IdentityClient, tenancy: &str, name: &str) -> Ocid {
    let created = block_on(client.create_user(&wire::CreateUserDetails {
        compartment_id: tenancy.to_owned(),
        name: name.to_owned(),
        description: format!("{name}, created outside ociam"),
        ..wire::CreateUserDetails::default()
    }))
    .unwrap();
    assert!(
        created.value.freeform_tags.is_empty(),
        "created without ociam's tag"
    );
    Ocid::new(created.value.id)
}

fn remove_membership_out_of_band(client: &IdentityClient, user: &Ocid, group: &Ocid) {
    block_on(async {
        let found = client
            .list_user_group_memberships(MembershipFilter::UserAndGroup { user, group })
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        client
            .remove_user_from_group(&Ocid::new(&found[0].id), None)
            .await
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// State sequences

/// A new team: a group, three users with keys and memberships, one password reset. The
/// one-time password lands in exactly one new 0600 file and never on the terminal.
#[test]
fn onboard_a_team_then_the_replan_is_empty() {
    let live = Live::start(&[]);
    let (ana, ben, cho) = (live.key("ana"), live.key("ben"), live.key("cho"));
    let applied = live.step(
        "team.yaml",
        "groups:
  - name: platform
    description: Platform team
users:
  - name: ana
    description: Ana
    email: ana@example.com
    groups: [platform]
    api_keys:
      - file: keys/ana.pem
    console_password:
      reset: 1
  - name: ben
    description: Ben
    groups: [platform]
    api_keys:
      - file: keys/ben.pem
  - name: cho
    description: Cho
    groups: [platform]
    api_keys:
      - file: keys/cho.pem
",
    );
    let state = live.state();
    assert!(state.groups[&GroupName::new("platform")].managed);
    for (name, key) in [("ana", &ana), ("ben", &ben), ("cho", &cho)] {
        let u = &state.users[&user(name)];
        assert!(u.managed, "{name} carries the ownership tag");
        assert!(member(&state, name, "platform"), "{name} in platform");
        assert_eq!(keys_of(&state, name), fps(&[key]), "{name}'s keys");
    }
    assert_eq!(state.users[&user("ana")].password_reset, Some(1));
    assert_eq!(state.users[&user("ben")].password_reset, None);
    assert_eq!(
        state.users[&user("ana")].email.as_deref(),
        Some("ana@example.com")
    );

    // Exactly one one-time password, for ana, 0600, in a 0700 directory, never printed.
    use std::os::unix::fs::PermissionsExt as _;
    let files: Vec<PathBuf> = fs::read_dir(&live.secrets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("ana"), "{name}");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&live.secrets), 0o700);
    let password = fs::read_to_string(&files[0]).unwrap();
    let password = password.trim();
    assert!(password.len() >= 8, "a real password was written");
    assert!(
        !applied.stdout.contains(password) && !applied.stderr.contains(password),
        "the one-time password was printed"
    );
    assert!(
        applied.stderr.contains(&name),
        "the step names the file: {}",
        applied.transcript()
    );
}

/// A user at the three-key cap rotates one key: the delete is applied before the upload.
#[test]
fn rotate_a_key_at_the_cap_deletes_before_it_uploads() {
    let live = Live::start(&[]);
    let keys: Vec<GeneratedKey> = (1..=4).map(|i| live.key(&format!("svc-{i}"))).collect();
    live.step(
        "svc.yaml",
        "users:
  - name: svc
    description: service account
    api_keys:
      - file: keys/svc-1.pem
      - file: keys/svc-2.pem
      - file: keys/svc-3.pem
",
    );
    assert_eq!(
        keys_of(&live.state(), "svc"),
        fps(&[&keys[0], &keys[1], &keys[2]])
    );
    let applied = live.step(
        "svc.yaml",
        "users:
  - name: svc
    description: service account
    api_keys:
      - file: keys/svc-1.pem
      - file: keys/svc-2.pem
      - file: keys/svc-4.pem
",
    );
    let delete = format!("delete_api_key api_key.svc/{}", keys[2].fingerprint);
    let upload = format!("upload_api_key api_key.svc/{}", keys[3].fingerprint);
    // The progress lines (stderr) show the order in which the steps ran.
    assert!(
        position(&applied.stderr, &delete) < position(&applied.stderr, &upload),
        "{}",
        applied.transcript()
    );
    assert!(
        applied.stdout.contains("deleted before the upload"),
        "{}",
        applied.transcript()
    );
    assert_eq!(
        keys_of(&live.state(), "svc"),
        fps(&[&keys[0], &keys[1], &keys[3]])
    );
}

/// A user moves from one group to another: added to the new one before leaving the old one.
#[test]
fn move_a_user_between_groups() {
    let live = Live::start(&[]);
    let groups = "groups:
  - name: blue
    description: Blue team
  - name: green
    description: Green team
";
    live.step(
        "m.yaml",
        &format!("{groups}users:\n  - name: mover\n    groups: [blue]\n"),
    );
    let before = live.state();
    assert!(member(&before, "mover", "blue") && !member(&before, "mover", "green"));
    let applied = live.step(
        "m.yaml",
        &format!("{groups}users:\n  - name: mover\n    groups: [green]\n"),
    );
    let after = live.state();
    assert!(member(&after, "mover", "green"), "joined green");
    assert!(!member(&after, "mover", "blue"), "left blue");
    assert!(
        position(&applied.stderr, "add_to_group membership.green/mover")
            < position(&applied.stderr, "remove_from_group membership.blue/mover"),
        "make before break: {}",
        applied.transcript()
    );
}

/// A tombstoned user who is in a group and holds keys is removed from the group, loses its
/// keys and is deleted; the group and its other member stay.
#[test]
fn offboard_with_a_tombstone() {
    let live = Live::start(&[]);
    live.key("leaver-1");
    live.key("leaver-2");
    let stayer = live.key("stayer");
    live.step(
        "o.yaml",
        "groups:
  - name: staff
users:
  - name: leaver
    groups: [staff]
    api_keys:
      - file: keys/leaver-1.pem
      - file: keys/leaver-2.pem
  - name: stayer
    groups: [staff]
    api_keys:
      - file: keys/stayer.pem
",
    );
    let before = live.state();
    assert!(member(&before, "leaver", "staff"));
    assert_eq!(keys_of(&before, "leaver").len(), 2);
    let applied = live.step(
        "o.yaml",
        "groups:
  - name: staff
users:
  - name: leaver
    state: absent
  - name: stayer
    groups: [staff]
    api_keys:
      - file: keys/stayer.pem
",
    );
    assert!(
        applied.stderr.contains("delete_user user.leaver: done"),
        "{}",
        applied.transcript()
    );
    let after = live.state();
    assert!(!after.users.contains_key(&user("leaver")), "leaver deleted");
    assert!(!member(&after, "leaver", "staff"));
    assert!(keys_of(&after, "leaver").is_empty());
    assert!(after.groups.contains_key(&GroupName::new("staff")));
    assert!(member(&after, "stayer", "staff"));
    assert_eq!(keys_of(&after, "stayer"), fps(&[&stayer]));
}

/// `prune: {users: true}` deletes only the unlisted user ociam created; a user created
/// directly through the API (no ownership tag) is reported as unmanaged and survives.
#[test]
fn prune_deletes_only_owned_users() {
    let live = Live::start(&[]);
    live.step(
        "p.yaml",
        "users:
  - name: keeper
    description: stays listed
  - name: owned
    description: created by ociam
",
    );
    let outsider = create_user_out_of_band(&live.client(), &live.tenancy, "outsider");
    let state = live.state();
    assert!(state.users[&user("owned")].managed);
    assert!(!state.users[&user("outsider")].managed);

    let applied = live.step(
        "p.yaml",
        "prune:
  users: true
users:
  - name: keeper
    description: stays listed
",
    );
    assert!(
        applied.stderr.contains("delete_user user.owned: done"),
        "{}",
        applied.transcript()
    );
    assert!(
        applied.stdout.contains("pruned"),
        "{}",
        applied.transcript()
    );
    let unmanaged = applied
        .stdout
        .lines()
        .find(|l| l.contains("note[unmanaged]") && l.contains("users"))
        .unwrap_or_else(|| panic!("no unmanaged note\n{}", applied.transcript()));
    assert!(unmanaged.contains("outsider"), "{unmanaged}");
    assert!(
        !applied.stdout.contains("user.outsider") && !applied.stderr.contains("user.outsider"),
        "no change touches the unowned user\n{}",
        applied.transcript()
    );
    let after = live.state();
    assert!(!after.users.contains_key(&user("owned")), "owned pruned");
    assert_eq!(
        after.users[&user("outsider")].id.as_ref(),
        Some(&outsider),
        "outsider survives"
    );
    assert!(after.users.contains_key(&user("keeper")));
    assert!(after.users.contains_key(&user("admin")));
}

/// Sets up `dev` (whose private key the test keeps) and `bob`, each with one key, as the
/// admin; returns dev's config file, dev's key and bob's key.
fn dev_and_bob(live: &Live) -> (PathBuf, GeneratedKey, GeneratedKey) {
    let dev = live.key("dev-1");
    let bob = live.key("bob-1");
    live.step(
        "admin.yaml",
        "users:
  - name: dev
    description: developer
    api_keys:
      - file: keys/dev-1.pem
  - name: bob
    description: another developer
    api_keys:
      - file: keys/bob-1.pem
",
    );
    let config = live.config_for("dev", &dev);
    (config, dev, bob)
}

/// A non-admin adds a second key to itself while keeping the one it signs with (self-service).
#[test]
fn a_non_admin_rotates_its_own_key() {
    let live = Live::start(&[]);
    let (dev_config, dev, _) = dev_and_bob(&live);
    let second = live.key("dev-2");
    live.manifest(
        "dev.yaml",
        "users:
  - name: dev
    api_keys:
      - file: keys/dev-1.pem
      - file: keys/dev-2.pem
",
    );
    let planned = live.ociam_as(&dev_config, &["plan", "dev.yaml", "--detailed-exitcode"]);
    assert_eq!(planned.code, 2, "{}", planned.transcript());
    assert!(
        planned.stdout.contains("self-service"),
        "{}",
        planned.transcript()
    );
    let applied = live.apply_as(&dev_config, "dev.yaml");
    assert_eq!(applied.code, 0, "{}", applied.transcript());
    assert!(applied.stdout.contains(MATCHES), "{}", applied.transcript());
    let replan = live.ociam_as(&dev_config, &["plan", "dev.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.transcript());
    assert_eq!(keys_of(&live.state(), "dev"), fps(&[&dev, &second]));
}

/// A non-admin's manifest that changes another user's key is rejected (exit 3, not-authorized)
/// and nothing is written.
#[test]
fn a_non_admin_is_refused_on_another_users_key() {
    let live = Live::start(&[]);
    let (dev_config, _, bob) = dev_and_bob(&live);
    live.key("bob-2");
    live.manifest(
        "bob.yaml",
        "users:
  - name: bob
    api_keys:
      - file: keys/bob-2.pem
",
    );
    for args in [
        vec!["plan", "bob.yaml"],
        vec!["apply", "bob.yaml", "--auto-approve", "--secrets-dir", "s"],
    ] {
        let out = live.ociam_as(&dev_config, &args);
        assert_eq!(out.code, 3, "{args:?}\n{}", out.transcript());
        assert!(
            out.stdout.contains("not-authorized") || out.stderr.contains("not-authorized"),
            "{args:?}\n{}",
            out.transcript()
        );
    }
    assert_eq!(keys_of(&live.state(), "bob"), fps(&[&bob]));
}

/// A non-admin reads only its own user and keys, and a manifest entry for its own group
/// memberships is refused rather than guessed.
#[test]
fn a_non_admin_reads_only_itself_and_may_not_plan_its_memberships() {
    let live = Live::start(&[]);
    let (dev_config, _, _) = dev_and_bob(&live);
    live.manifest(
        "dev.yaml",
        "users:\n  - name: dev\n    groups: []\n    api_keys:\n      - file: keys/dev-1.pem\n",
    );
    let out = live.ociam_as(&dev_config, &["plan", "dev.yaml"]);
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert!(
        out.stderr.contains("reads (and plans) only its own user"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout
            .contains("cannot read or change its group memberships"),
        "{}",
        out.transcript()
    );
}

// ---------------------------------------------------------------------------------------------
// import, drift, saved plans, confirmation

/// A seed snapshot with `users` users (`u000`…), 5 groups, memberships, a federated user and
/// keys with real PEMs for every 20th user, all created 30 days before `now` (within
/// `key-age`'s 90 days).
fn big_seed(tenancy: &str, users: usize, now: jiff::Timestamp) -> Value {
    let time = days_from(now, -30);
    let groups: Vec<Value> = (0..5)
        .map(|g| {
            json!({"id": format!("ocid1.group.oc1..g{g}"), "compartmentId": tenancy,
                   "name": format!("group-{g}"), "description": format!("Group {g}"),
                   "timeCreated": time, "lifecycleState": "ACTIVE"})
        })
        .collect();
    let mut all_users = Vec::new();
    let mut memberships = Vec::new();
    let mut api_keys = serde_json::Map::new();
    for i in 0..users {
        let id = format!("ocid1.user.oc1..u{i:03}");
        let mut u = json!({"id": id, "compartmentId": tenancy, "name": format!("u{i:03}"),
                           "description": format!("User {i}"), "timeCreated": time,
                           "lifecycleState": "ACTIVE", "freeformTags": {}, "definedTags": {}});
        if i % 3 == 0 {
            u["email"] = json!(format!("u{i:03}@example.com"));
        }
        if i % 50 == 7 {
            u["capabilities"] = json!({"canUseApiKeys": false, "canUseConsolePassword": true});
        }
        if i % 50 == 11 {
            u["capabilities"] = json!({"canUseApiKeys": true, "canUseConsolePassword": false});
        }
        if i == 13 {
            u["identityProviderId"] = json!("ocid1.saml2idp.oc1..idp");
            u["externalIdentifier"] = json!("ext-13");
        }
        if i % 10 == 1 {
            u["freeformTags"] = json!({"ociam-managed": "true"});
        }
        all_users.push(u);
        for g in [i % 5, (i * 7 + 3) % 5]
            .into_iter()
            .collect::<BTreeSet<_>>()
        {
            memberships.push(
                json!({"id": format!("ocid1.groupmembership.oc1..m{i:03}g{g}"),
                                    "compartmentId": tenancy,
                                    "groupId": format!("ocid1.group.oc1..g{g}"),
                                    "userId": id, "timeCreated": time,
                                    "lifecycleState": "ACTIVE"}),
            );
        }
        if i % 20 == 0 {
            let n = if i % 40 == 0 { 2 } else { 1 };
            let keys: Vec<Value> = (0..n)
                .map(|_| {
                    let k = ociam::keygen::generate_rsa_2048().unwrap();
                    json!({"fingerprint": k.fingerprint.as_str(), "keyValue": k.public_spki_pem,
                           "userId": id, "timeCreated": time, "lifecycleState": "ACTIVE"})
                })
                .collect();
            api_keys.insert(id.clone(), Value::Array(keys));
        }
    }
    json!({"format_version": 1, "tenancy": tenancy, "users": all_users, "groups": groups,
           "memberships": memberships, "api_keys": api_keys})
}

/// `import` of a 210-user tenancy writes a manifest whose plan is empty; a second import into
/// the same directory refuses to overwrite it.
#[test]
fn import_round_trip_of_a_210_user_tenancy_plans_empty_and_never_overwrites() {
    import_round_trip(None);
}

/// The clock moved a year ahead (`OCIAM_NOW`, fixtures dated from it): the same outcome.
#[test]
fn import_round_trip_with_the_clock_a_year_ahead() {
    import_round_trip(Some(&a_year_ahead()));
}

/// `OCIAM_NOW` a year after the test's own "now".
fn a_year_ahead() -> String {
    days_from(crate::util::now(), 365)
}

/// The import round trip with the emulator and every command at `now` (`None`: the clock).
fn import_round_trip(now: Option<&str>) {
    let seed_dir = tempfile::tempdir().unwrap();
    let tenancy = "ocid1.tenancy.oc1..importtest";
    let seed_path = seed_dir.path().join("seed.json");
    let at = now.map_or_else(crate::util::now, |s| s.parse().unwrap());
    fs::write(&seed_path, big_seed(tenancy, 210, at).to_string()).unwrap();
    let live = Live::start_at(&["--seed", seed_path.to_str().unwrap()], now);
    assert_eq!(live.tenancy, tenancy);
    let state = live.state();
    assert_eq!(state.users.len(), 211, "210 seeded + admin");

    let imported = live.ociam(&["import", "--out", "imported"]);
    assert_eq!(imported.code, 0, "{}", imported.transcript());
    let manifest = live.path().join("imported/manifest.yaml");
    let text = fs::read_to_string(&manifest).unwrap();
    for name in ["u000", "u105", "u209", "admin", "group-4"] {
        assert!(text.contains(name), "{name} not imported");
    }
    let key_files = fs::read_dir(live.path().join("imported/keys"))
        .unwrap()
        .count();
    // 11 seeded users with keys (6 of them with two) + the admin's key.
    assert_eq!(key_files, 11 + 6 + 1, "one file per live key");

    let planned = live.ociam(&["plan", "imported/manifest.yaml", "--detailed-exitcode"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    assert!(
        planned.stdout.contains("No changes."),
        "{}",
        planned.transcript()
    );
    let drift = live.ociam(&["drift", "imported/manifest.yaml"]);
    assert_eq!(drift.code, 0, "{}", drift.transcript());

    let again = live.ociam(&["import", "--out", "imported"]);
    assert_eq!(again.code, 1, "{}", again.transcript());
    assert!(
        again.stderr.contains("already exists"),
        "{}",
        again.transcript()
    );
    assert_eq!(fs::read_to_string(&manifest).unwrap(), text, "unchanged");
}

/// Drift after out-of-band changes made with signed requests, each in its category; a matching
/// tenancy (an unlisted user is only informational) exits 0.
#[test]
fn drift_reports_out_of_band_changes_by_category() {
    drift_by_category(None);
}

/// The clock moved a year ahead: the same drift, and a key expired yesterday is still the only
/// `key_age` finding (keys uploaded "now" are not old).
#[test]
fn drift_by_category_with_the_clock_a_year_ahead() {
    drift_by_category(Some(&a_year_ahead()));
}

/// The drift scenario with the emulator and every command at `now` (`None`: the clock).
fn drift_by_category(now: Option<&str>) {
    let live = Live::start_at(&[], now);
    let at = now.map_or_else(crate::util::now, |s| s.parse().unwrap());
    let yesterday = &days_from(at, -1)[..10];
    let (keyed, _gone, aging) = (live.key("keyed"), live.key("gone"), live.key("aging"));
    let body = |expires: &str| {
        format!(
            "groups:
  - name: devs
  - name: ops
users:
  - name: keyed
    groups: [devs]
    api_keys:
      - file: keys/keyed.pem
  - name: member
    groups: [devs, ops]
  - name: gone
    groups: [devs]
    api_keys:
      - file: keys/gone.pem
  - name: aging
    api_keys:
      - file: keys/aging.pem{expires}
  - name: joiner
    groups: [devs]
"
        )
    };
    live.step("d.yaml", &body(""));
    live.manifest(
        "expiring.yaml",
        &body(&format!("\n        expires: {yesterday}")),
    );

    let clean = live.ociam(&["drift", "d.yaml"]);
    assert_eq!(clean.code, 0, "{}", clean.transcript());
    assert!(clean.stdout.contains("No drift"), "{}", clean.transcript());

    // An unlisted user: reported, but informational.
    let client = live.client();
    create_user_out_of_band(&client, &live.tenancy, "stranger");
    let informational = live.ociam(&["drift", "d.yaml", "--format", "json"]);
    assert_eq!(informational.code, 0, "{}", informational.transcript());
    let report: Value = serde_json::from_str(&informational.stdout).unwrap();
    assert_eq!(report["drift"], false);
    assert!(
        report["categories"]["unmanaged_objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["detail"].as_str().unwrap().contains("stranger")),
        "{report:#}"
    );

    // The out-of-band changes.
    let state = live.state();
    let id = |name: &str| state.users[&user(name)].id.clone().unwrap();
    let gid = |name: &str| state.groups[&GroupName::new(name)].id.clone().unwrap();
    let extra = ociam::keygen::generate_rsa_2048().unwrap();
    block_on(client.upload_api_key(
        &id("keyed"),
        &wire::CreateApiKeyDetails {
            key: extra.public_spki_pem.clone(),
        },
    ))
    .unwrap();
    remove_membership_out_of_band(&client, &id("member"), &gid("ops"));
    remove_membership_out_of_band(&client, &id("gone"), &gid("devs"));
    block_on(client.delete_user(&id("gone"), None)).unwrap();
    block_on(client.add_user_to_group(&wire::AddUserToGroupDetails {
        user_id: id("joiner").to_string(),
        group_id: gid("ops").to_string(),
    }))
    .unwrap();

    let out = live.ociam(&["drift", "expiring.yaml", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.transcript());
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["drift"], true);
    assert_eq!(report["tenancy"], live.tenancy.as_str());
    let subjects = |category: &str| -> Vec<String> {
        report["categories"][category]
            .as_array()
            .unwrap_or_else(|| panic!("no {category}: {report:#}"))
            .iter()
            .map(|i| i["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let has = |category: &str, subject: &str| {
        assert!(
            subjects(category).iter().any(|s| s == subject),
            "{subject} not in {category}: {report:#}"
        );
    };
    has(
        "unmanaged_credentials",
        &format!("api_key.keyed/{}", extra.fingerprint),
    );
    // A membership removed out of band is one to create again: `missing` (src/drift.rs).
    has("missing", "membership.ops/member");
    // A membership added out of band is one to remove: `changed`.
    has("changed", "membership.ops/joiner");
    has("missing", "user.gone");
    assert_eq!(
        subjects("key_age"),
        [format!("api_key.aging/{}", aging.fingerprint)],
        "{report:#}"
    );
    assert!(
        report["categories"]["unmanaged_objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["detail"].as_str().unwrap().contains("stranger")),
        "{report:#}"
    );
    // Nothing else is misfiled: the kept key of `keyed` is not an unmanaged credential.
    assert!(
        !subjects("unmanaged_credentials")
            .iter()
            .any(|s| s.ends_with(keyed.fingerprint.as_str())),
        "{report:#}"
    );
    // The text report agrees.
    let text = live.ociam(&["drift", "expiring.yaml"]);
    assert_eq!(text.code, 2, "{}", text.transcript());
    assert!(
        text.stdout.contains("Drift detected"),
        "{}",
        text.transcript()
    );
}

/// `plan --out` + `apply PLANFILE` applies exactly that plan; a saved plan made before an
/// out-of-band change is refused as stale and writes nothing.
#[test]
fn a_saved_plan_applies_and_a_stale_one_is_refused() {
    let live = Live::start(&[]);
    live.manifest("m.yaml", "users:\n  - name: first\n    description: one\n");
    let planned = live.ociam(&["plan", "m.yaml", "--out", "plan.json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    let applied = live.apply("plan.json");
    assert_eq!(applied.code, 0, "{}", applied.transcript());
    assert!(applied.stdout.contains(MATCHES), "{}", applied.transcript());
    assert!(live.state().users.contains_key(&user("first")));
    let replan = live.ociam(&["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.transcript());

    live.manifest(
        "m.yaml",
        "users:\n  - name: first\n    description: one\n  - name: second\n    description: two\n",
    );
    let planned = live.ociam(&["plan", "m.yaml", "--out", "plan2.json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    assert!(
        planned.stdout.contains("user.second"),
        "{}",
        planned.transcript()
    );
    // An unrelated out-of-band change does not make the plan stale ...
    create_user_out_of_band(&live.client(), &live.tenancy, "unrelated");
    // ... but one to an object the plan changes does.
    let second = create_user_out_of_band(&live.client(), &live.tenancy, "second");
    let before = live.state();
    let stale = live.apply("plan2.json");
    assert_eq!(stale.code, 1, "{}", stale.transcript());
    assert!(stale.stderr.contains("stale"), "{}", stale.transcript());
    assert!(
        stale.stderr.contains("user.second: created since the plan"),
        "{}",
        stale.transcript()
    );
    assert!(
        !stale.stderr.contains("unrelated"),
        "{}",
        stale.transcript()
    );
    let after = live.state();
    assert_eq!(after, before, "nothing was written");
    assert_eq!(after.users[&user("second")].id.as_ref(), Some(&second));
}

/// A saved plan whose precondition digests are in the format before it was versioned (v1,
/// `sha256:`) was made by an older ociam: apply says so, does not call its objects moved, and
/// writes nothing.
#[test]
fn a_saved_plan_with_old_precondition_digests_is_refused_as_old() {
    let live = Live::start(&[]);
    live.step(
        "base.yaml",
        "users:\n  - name: olga\n    description: before\n",
    );
    live.manifest(
        "next.yaml",
        "users:\n  - name: olga\n    description: after\n",
    );
    let planned = live.ociam(&["plan", "next.yaml", "--out", "saved.json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    let path = live.path().join("saved.json");
    let mut plan: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut rewritten = 0;
    for change in plan["changes"].as_array_mut().unwrap() {
        if let Some(digest) = change["precondition"]["digest"].as_str() {
            let hex = digest.rsplit_once(':').unwrap().1.to_owned();
            change["precondition"]["digest"] = json!(format!("sha256:{hex}"));
            rewritten += 1;
        }
    }
    assert!(rewritten > 0, "{plan:#}");
    fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let before = live.state();
    let old = live.apply("saved.json");
    assert_eq!(old.code, 1, "{}", old.transcript());
    assert!(
        old.stderr
            .contains("made by an older ociam (precondition digest format v1"),
        "{}",
        old.transcript()
    );
    assert!(
        old.stderr.contains("run `ociam plan` again"),
        "{}",
        old.transcript()
    );
    assert!(
        !old.stderr.contains("changed since the plan"),
        "{}",
        old.transcript()
    );
    assert_eq!(live.state(), before, "nothing was written");
}

/// For each kind of out-of-band change to an object a saved plan reads or changes, applying
/// the plan is refused, the message names the object and how it moved, and nothing is written.
#[test]
fn a_saved_plan_is_refused_for_each_kind_of_out_of_band_change() {
    let live = Live::start(&[]);
    let k1 = live.key("k1");
    live.key("k2");
    live.step(
        "base.yaml",
        "groups:
  - name: team
  - name: old
users:
  - name: ursula
    description: before
    groups: [team, old]
    api_keys:
      - file: keys/k1.pem
",
    );
    // One plan that reads every kind of object: it updates ursula and group old, uploads k2
    // (so it reads ursula's keys) and removes ursula from team.
    live.manifest(
        "next.yaml",
        "groups:
  - name: team
  - name: old
    description: renamed
users:
  - name: ursula
    description: after
    groups: [old]
    api_keys:
      - file: keys/k1.pem
      - file: keys/k2.pem
",
    );
    let client = live.client();
    let ursula = live.user_id("ursula");
    let team = live.state().groups[&ociam::model::GroupName::from("team")]
        .id
        .clone()
        .unwrap();
    let old = live.state().groups[&ociam::model::GroupName::from("old")]
        .id
        .clone()
        .unwrap();
    let k3 = live.key("k3");
    type Change = Box<dyn Fn()>;
    let kinds: Vec<(&str, &str, Change)> = vec![
        ("user updated", "user.ursula: changed since the plan", {
            let (client, ursula) = (client.clone(), ursula.clone());
            Box::new(move || {
                let details = wire::UpdateUserDetails {
                    description: Some("meddled".into()),
                    ..Default::default()
                };
                block_on(client.update_user(&ursula, &details, None)).unwrap();
            })
        }),
        ("key added", "added since the plan", {
            let (client, ursula, pem) =
                (client.clone(), ursula.clone(), k3.public_spki_pem.clone());
            Box::new(move || {
                block_on(
                    client.upload_api_key(&ursula, &wire::CreateApiKeyDetails { key: pem.clone() }),
                )
                .unwrap();
            })
        }),
        ("key deleted", "deleted since the plan", {
            let (client, ursula, fp) = (client.clone(), ursula.clone(), k1.fingerprint.clone());
            Box::new(move || {
                let fp = ociam::model::Fingerprint::parse(fp.as_str()).unwrap();
                block_on(client.delete_api_key(&ursula, &fp, None)).unwrap();
            })
        }),
        (
            "membership removed",
            "membership.team/ursula: removed since the plan",
            {
                let (client, ursula, team) = (client.clone(), ursula.clone(), team.clone());
                Box::new(move || remove_membership_out_of_band(&client, &ursula, &team))
            },
        ),
        ("group deleted", "group.old: deleted since the plan", {
            let (client, ursula, old) = (client.clone(), ursula.clone(), old.clone());
            Box::new(move || {
                remove_membership_out_of_band(&client, &ursula, &old);
                block_on(client.delete_group(&old, None)).unwrap();
            })
        }),
    ];
    for (kind, expected, meddle) in kinds {
        // Reset the tenancy to the base manifest, save a plan of the next one, then meddle.
        let reset = live.apply("base.yaml");
        assert!(
            reset.code == 0 || reset.code == 2,
            "{kind}: {}",
            reset.transcript()
        );
        let planned = live.ociam(&["plan", "next.yaml", "--out", "saved.json"]);
        assert_eq!(planned.code, 0, "{kind}: {}", planned.transcript());
        meddle();
        let before = live.state();
        let stale = live.apply("saved.json");
        assert_eq!(stale.code, 1, "{kind}: {}", stale.transcript());
        assert!(
            stale.stderr.contains("stale"),
            "{kind}: {}",
            stale.transcript()
        );
        assert!(
            stale.stderr.contains(expected),
            "{kind}: expected `{expected}`\n{}",
            stale.transcript()
        );
        assert_eq!(live.state(), before, "{kind}: nothing was written");
    }
}

/// Without `--auto-approve` and with stdin not a terminal, apply refuses and writes nothing.
#[test]
fn apply_without_auto_approve_off_a_terminal_writes_nothing() {
    let live = Live::start(&[]);
    live.manifest("m.yaml", "users:\n  - name: unapproved\n");
    let before = live.state();
    let out = live.ociam(&["apply", "m.yaml", "--secrets-dir", "s"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.stderr.contains("--auto-approve"),
        "{}",
        out.transcript()
    );
    assert_eq!(live.state(), before, "nothing was written");
    assert!(!live.path().join("s").exists());
}

// ---------------------------------------------------------------------------------------------
// The README's quick start

/// The `cargo run -- …` commands of the README's "Quick start" section, as argument lists
/// (the words after `cargo run --`), from its ```sh blocks in order.
fn quick_start_commands() -> Vec<Vec<String>> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a `## Quick start` section");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && let Some(rest) = trimmed.strip_prefix("cargo run --") {
            commands.push(rest.split_whitespace().map(str::to_owned).collect());
        }
    }
    commands
}

/// The quick start exactly as written, run as the built binary in a copy of `examples/`:
/// plan shows svc-deploy's old key deleted before the new one is uploaded, apply converges,
/// drift is clean.
#[test]
fn the_readme_quick_start_runs_as_written() {
    let commands = quick_start_commands();
    let verbs: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
    for verb in ["plan", "apply", "drift"] {
        assert!(
            verbs.contains(&verb),
            "the quick start has no `cargo run -- {verb}` command: {commands:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples"), &dir.path().join("examples"));
    for command in &commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = run_in(dir.path(), &args);
        let shown = format!("ociam {}\n{}", args.join(" "), out.transcript());
        match args[0] {
            "plan" => {
                assert_eq!(out.code, 0, "{shown}");
                let delete = position(&out.stdout, "delete_api_key         api_key.svc-deploy/");
                let upload = position(&out.stdout, "upload_api_key         api_key.svc-deploy/");
                assert!(delete < upload, "{shown}");
            }
            "apply" => {
                assert_eq!(out.code, 0, "{shown}");
                assert!(out.stdout.contains(MATCHES), "{shown}");
            }
            "drift" => assert_eq!(out.code, 0, "{shown}"),
            _ => assert_eq!(out.code, 0, "{shown}"),
        }
    }
    assert!(
        dir.path().join(".ociam/emulator").is_dir(),
        ".ociam/ landed in the working directory"
    );
    // carol's one-time password went to one new 0600 file under .ociam/secrets/.
    use std::os::unix::fs::PermissionsExt as _;
    let secrets: Vec<PathBuf> = fs::read_dir(dir.path().join(".ociam/secrets"))
        .expect("apply wrote .ociam/secrets/")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert!(
        secrets[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("carol"),
        "{secrets:?}"
    );
    assert_eq!(
        fs::metadata(&secrets[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

// ---------------------------------------------------------------------------------------------
// Journal and resume

/// A 13-step plan: two groups, three users with a key and memberships each, one password reset.
const KILL_MANIFEST: &str = "groups:
  - name: alpha
  - name: beta
users:
  - name: kate
    groups: [alpha, beta]
    api_keys:
      - file: keys/kate.pem
    console_password:
      reset: 1
  - name: liam
    groups: [alpha]
    api_keys:
      - file: keys/liam.pem
  - name: mona
    groups: [beta]
    api_keys:
      - file: keys/mona.pem
";

/// `apply FILE --auto-approve` against `live`'s emulator as a child process, its stderr piped
/// (for the kill tests).
fn spawn_apply(live: &Live, file: &str) -> std::process::Child {
    let config = live.emu.config_file().display().to_string();
    let secrets = live.secrets.display().to_string();
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("ociam"))
        .current_dir(live.path())
        .args(["apply", file, "--auto-approve", "--secrets-dir", &secrets])
        .args(["--config-file", &config, "--endpoint", &live.emu.url])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `apply` as a child process and SIGKILLs it as soon as it reports step `k` (the kill
/// lands while it writes step k+1 or journals it: the emulator's latency keeps it busy).
fn apply_killed_after(live: &Live, file: &str, k: usize) {
    use std::io::BufRead as _;
    let mut child = spawn_apply(live, file);
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let marker = format!("[{k}/");
    for line in stderr.lines() {
        if line.unwrap().starts_with(&marker) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Kill test: for every k, an apply killed after step k is resumed by the next apply, the
/// tenancy then matches the manifest, nothing was created twice, the one-time password was
/// delivered once, and the journal tells the truth.
#[test]
fn an_apply_killed_after_any_step_resumes_without_writing_twice() {
    for k in 1..=13 {
        let live = Live::start(&["--latency", "20"]);
        for name in ["kate", "liam", "mona"] {
            live.key(name);
        }
        live.manifest("m.yaml", KILL_MANIFEST);
        let planned = live.ociam(&["plan", "m.yaml"]);
        assert!(
            planned
                .stdout
                .contains("Plan: 12 to create, 1 to update, 0 to delete."),
            "{}",
            planned.transcript()
        );
        apply_killed_after(&live, "m.yaml", k);

        let resumed = live.apply("m.yaml");
        assert_eq!(resumed.code, 0, "k={k}\n{}", resumed.transcript());
        assert!(
            resumed.stdout.contains(MATCHES) || resumed.stdout.contains("No changes."),
            "k={k}\n{}",
            resumed.transcript()
        );
        let replan = live.ociam(&["plan", "m.yaml", "--detailed-exitcode"]);
        assert_eq!(replan.code, 0, "k={k}\n{}", replan.transcript());

        // Nothing twice: the service keeps names unique and one key per upload.
        let state = live.state();
        assert_eq!(state.users.len(), 4, "k={k}: admin + 3");
        assert_eq!(state.groups.len(), 3, "k={k}: Administrators + 2");
        for name in ["kate", "liam", "mona"] {
            assert_eq!(keys_of(&state, name).len(), 1, "k={k}: one key for {name}");
        }
        assert!(member(&state, "kate", "alpha") && member(&state, "kate", "beta"));
        let delivered: Vec<_> = fs::read_dir(&live.secrets).unwrap().collect();
        assert_eq!(delivered.len(), 1, "k={k}: one password file");
        let password = fs::read_to_string(delivered[0].as_ref().unwrap().path()).unwrap();

        // The journal tells the truth: every line is a record, every outcome follows its
        // intent, every write the kill left open was finished later (re-sent and done, or
        // settled once the tenancy matched), and no secret is in it. (The resumed plan's own
        // records are compacted away once it completes, unless they finish a killed write.)
        let text = journal_text(&live);
        assert!(
            !text.contains(password.trim()),
            "k={k}: the journal holds no password"
        );
        assert_every_intent_finished(&text, &format!("k={k}"));
    }
}

/// The same plan saved with `plan --out`, killed mid-apply, is resumed by applying the same
/// file again: steps the journal records as done are skipped, the objects they changed do not
/// make the plan stale, and the interrupted write is re-sent with its retry token.
#[test]
fn a_killed_apply_of_a_saved_plan_resumes_from_the_journal() {
    for k in [1, 5, 9, 12] {
        let live = Live::start(&["--latency", "20"]);
        for name in ["kate", "liam", "mona"] {
            live.key(name);
        }
        live.manifest("m.yaml", KILL_MANIFEST);
        let planned = live.ociam(&["plan", "m.yaml", "--out", "plan.json"]);
        assert_eq!(planned.code, 0, "{}", planned.transcript());
        apply_killed_after(&live, "plan.json", k);
        let resumed = live.apply("plan.json");
        assert_eq!(resumed.code, 0, "k={k}\n{}", resumed.transcript());
        assert!(
            resumed
                .stderr
                .contains("done (by an earlier, interrupted apply)"),
            "k={k}\n{}",
            resumed.transcript()
        );
        assert!(
            resumed.stdout.contains(MATCHES),
            "k={k}\n{}",
            resumed.transcript()
        );
        let replan = live.ociam(&["plan", "m.yaml", "--detailed-exitcode"]);
        assert_eq!(replan.code, 0, "k={k}\n{}", replan.transcript());
        assert_eq!(fs::read_dir(&live.secrets).unwrap().count(), 1, "k={k}");
    }
}

/// A step the service refuses (ben's email is amy's: OCI keeps emails unique) stops the apply:
/// no step starts after it, and done / failed / not started are reported, exit 1 (one step at
/// a time here, so "after" is plan order). `--keep-going`, at the default parallelism, goes on
/// with every step that does not depend on ben; `--format json` gives the same report.
#[test]
fn a_failed_step_stops_the_apply_unless_keep_going() {
    let before = "users:
  - name: amy
    email: shared@example.com
";
    let body = "groups:
  - name: crew
users:
  - name: amy
    email: shared@example.com
  - name: ben
    email: shared@example.com
    groups: [crew]
  - name: cal
    groups: [crew]
";
    let live = Live::start(&[]);
    live.step("before.yaml", before);
    live.manifest("m.yaml", body);
    let secrets = live.secrets.display().to_string();
    let stopped = live.ociam(&[
        "apply",
        "m.yaml",
        "--auto-approve",
        "--parallelism",
        "1",
        "--secrets-dir",
        &secrets,
    ]);
    assert_eq!(stopped.code, 1, "{}", stopped.transcript());
    assert!(
        stopped.stderr.contains("create_user user.ben: FAILED"),
        "{}",
        stopped.transcript()
    );
    assert!(
        stopped.stderr.contains("opc-request-id"),
        "the failure names the request\n{}",
        stopped.transcript()
    );
    assert!(
        stopped.stderr.contains("not started"),
        "{}",
        stopped.transcript()
    );
    assert!(
        !live.state().users.contains_key(&user("cal")),
        "nothing after the failure"
    );

    let live = Live::start(&[]);
    live.step("before.yaml", before);
    live.manifest("m.yaml", body);
    let secrets = live.secrets.display().to_string();
    let kept = live.ociam(&[
        "apply",
        "m.yaml",
        "--auto-approve",
        "--keep-going",
        "--format",
        "json",
        "--secrets-dir",
        &secrets,
    ]);
    assert_eq!(kept.code, 1, "{}", kept.transcript());
    let report: Value =
        serde_json::from_str(&kept.stdout).unwrap_or_else(|e| panic!("{e}\n{}", kept.transcript()));
    let status = |subject: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subject"] == subject)
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no step {subject} in {report:#}"))
    };
    assert_eq!(status("user.ben"), "failed");
    assert_eq!(
        status("membership.crew/ben"),
        "not_started",
        "depends on ben"
    );
    assert_eq!(status("user.cal"), "done", "independent of ben");
    assert_eq!(status("membership.crew/cal"), "done", "independent of ben");
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["matches"], false);
    let state = live.state();
    assert!(state.users.contains_key(&user("cal")));
    assert!(!state.users.contains_key(&user("ben")));
}

/// A saved plan made with `--allow-deletions` is refused by an apply without it (the deletion
/// budget is re-checked at apply time), and applies with it.
#[test]
fn apply_rechecks_the_deletion_budget_of_a_saved_plan() {
    let live = Live::start(&[]);
    let users: String = (1..=6).map(|i| format!("  - name: temp{i}\n")).collect();
    live.step("all.yaml", &format!("users:\n{users}"));
    let gone: String = (1..=6)
        .map(|i| format!("  - name: temp{i}\n    state: absent\n"))
        .collect();
    live.manifest("gone.yaml", &format!("users:\n{gone}"));
    let refused = live.ociam(&["plan", "gone.yaml"]);
    assert_eq!(refused.code, 3, "{}", refused.transcript());
    let planned = live.ociam(&[
        "plan",
        "gone.yaml",
        "--allow-deletions",
        "6",
        "--out",
        "p.json",
    ]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    let without = live.apply("p.json");
    assert_eq!(without.code, 3, "{}", without.transcript());
    assert!(
        without.stderr.contains("--allow-deletions 6"),
        "{}",
        without.transcript()
    );
    assert_eq!(live.state().users.len(), 7, "nothing deleted");
    let secrets = live.secrets.display().to_string();
    let with = live.ociam(&[
        "apply",
        "p.json",
        "--auto-approve",
        "--allow-deletions",
        "6",
        "--secrets-dir",
        &secrets,
    ]);
    assert_eq!(with.code, 0, "{}", with.transcript());
    assert_eq!(live.state().users.len(), 1, "only admin is left");
}

// ---------------------------------------------------------------------------------------------
// Identity-domain tenancies

/// The read tells a classic tenancy from one with identity domains (ListDomains), and the
/// snapshot records it.
#[test]
fn the_read_detects_classic_and_identity_domain_tenancies() {
    let classic = Live::start(&[]);
    assert!(!classic.state().identity_domains);
    let snap = classic.ociam(&["snapshot"]);
    assert!(
        !snap.stdout.contains("identity_domains"),
        "{}",
        snap.transcript()
    );
    let domains = Live::start(&["--identity-domains"]);
    assert!(domains.state().identity_domains);
    let snap = domains.ociam(&["snapshot"]);
    assert!(
        snap.stdout.contains("\"identity_domains\": true"),
        "{}",
        snap.transcript()
    );
}

/// With identity domains: a user without an email is refused at plan time (exit 3,
/// `email-required`), not by a failing apply; with one, the reset is a link OCI emails (no
/// password file is written), and the tenancy then matches.
#[test]
fn with_identity_domains_a_reset_is_an_emailed_link_and_an_email_is_required() {
    let live = Live::start(&["--identity-domains"]);
    let body = |email: &str| {
        format!(
            "users:
  - name: dora
    description: Dora{email}
    console_password:
      reset: 1
"
        )
    };
    live.manifest("nomail.yaml", &body(""));
    for args in [
        vec!["plan", "nomail.yaml"],
        vec![
            "apply",
            "nomail.yaml",
            "--auto-approve",
            "--secrets-dir",
            "s",
        ],
    ] {
        let out = live.ociam(&args);
        assert_eq!(out.code, 3, "{args:?}\n{}", out.transcript());
        assert!(
            out.stdout.contains("email-required"),
            "{args:?}\n{}",
            out.transcript()
        );
    }
    assert!(
        !live.state().users.contains_key(&user("dora")),
        "nothing was written"
    );

    live.manifest("dora.yaml", &body("\n    email: dora@example.com"));
    let planned = live.ociam(&["plan", "dora.yaml", "--format", "json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    let plan: Value = serde_json::from_str(&planned.stdout).unwrap();
    let reset = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "reset_console_password")
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(reset["after"]["reset_link_to"], "dora@example.com");
    let text = live.ociam(&["plan", "dora.yaml"]);
    assert!(
        text.stdout
            .contains("OCI emails a reset link to dora@example.com"),
        "{}",
        text.transcript()
    );

    let applied = live.step("dora.yaml", &body("\n    email: dora@example.com"));
    assert!(
        applied
            .stderr
            .contains("OCI emailed a reset link to dora@example.com"),
        "{}",
        applied.transcript()
    );
    let written = fs::read_dir(&live.secrets).map_or(0, Iterator::count);
    assert_eq!(written, 0, "no password file: {}", applied.transcript());
}

// ---------------------------------------------------------------------------------------------
// Every action kind, killed before and after its write reached the emulator

/// The tenancy the every-action plan starts from.
const EVERY_BASE: &str = "groups:
  - name: renamed
    description: old
  - name: doomed
  - name: team
users:
  - name: upd
    description: old
    groups: [team]
  - name: caps
    api_keys:
      - file: keys/caps-1.pem
  - name: pw
  - name: zed
";

/// From [`EVERY_BASE`], a plan with every action kind.
const EVERY_ACTION: &str = "groups:
  - name: renamed
    description: new
  - name: doomed
    state: absent
  - name: team
  - name: fresh
users:
  - name: upd
    description: new
    groups: []
  - name: caps
    capabilities: { api_keys: true, console_password: false }
    api_keys:
      - file: keys/caps-2.pem
  - name: pw
    groups: [team]
    console_password:
      reset: 1
  - name: zed
    state: absent
  - name: newbie
    groups: [fresh]
    api_keys:
      - file: keys/newbie.pem
";

/// The base tenancy (applied, emulator stopped: its data directory can be copied) and a
/// working directory holding the keys, `m.yaml` (every action) and `plan.json` (its plan).
fn every_action_base() -> Live {
    let mut base = Live::start(&[]);
    for name in ["caps-1", "caps-2", "newbie"] {
        base.key(name);
    }
    base.step("base.yaml", EVERY_BASE);
    base.manifest("m.yaml", EVERY_ACTION);
    let planned = base.ociam(&["plan", "m.yaml", "--out", "plan.json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    base.emu.stop();
    base
}

/// A run against a copy of `base`'s (stopped) emulator, started with `extra`, in a new working
/// directory holding copies of `base`'s keys and top-level files (manifests, saved plans).
fn every_action_run(base: &Live, extra: &[&str]) -> Live {
    let live = Live::on(Emulator::start_from(base.emu.data.path(), extra), None);
    copy_dir(&base.path().join("keys"), &live.path().join("keys"));
    for entry in fs::read_dir(base.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), live.path().join(entry.file_name())).unwrap();
        }
    }
    live
}

/// The journal file of `live`'s working directory, as text (empty when there is none yet).
fn journal_text(live: &Live) -> String {
    let Ok(entries) = fs::read_dir(live.path().join(".ociam")) else {
        return String::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| fs::read_to_string(p).unwrap())
        .unwrap_or_default()
}

/// Every line of a journal is a record and every outcome follows an open intent of its step;
/// returns the intents left open: `(seq, action, subject, request)`.
fn open_intents(text: &str, context: &str) -> Vec<(u64, String, String, String)> {
    let mut open: Vec<(String, u64, String, String, String)> = Vec::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{context}: not a record ({e}): {line}"));
        let (plan, seq) = (r["plan"].as_str().unwrap(), r["seq"].as_u64().unwrap());
        match r["type"].as_str().unwrap() {
            "intent" => open.push((
                plan.to_owned(),
                seq,
                r["action"].as_str().unwrap().to_owned(),
                r["subject"].as_str().unwrap().to_owned(),
                r["request"].as_str().unwrap().to_owned(),
            )),
            "outcome" => {
                let at = open
                    .iter()
                    .position(|o| o.0 == plan && o.1 == seq)
                    .unwrap_or_else(|| panic!("{context}: outcome without an intent: {line}"));
                open.remove(at);
            }
            other => panic!("{context}: unknown record {other}"),
        }
    }
    open.into_iter()
        .map(|(_, s, a, u, q)| (s, a, u, q))
        .collect()
}

/// Starts `apply FILE` as a child process, waits until the emulator holds the write `stall`
/// names, and SIGKILLs the apply; returns what it printed to stderr.
fn apply_killed_at_stall(live: &Live, file: &str, stall: &str) -> String {
    use std::io::Read as _;
    let mut child = spawn_apply(live, file);
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    live.emu.wait_for_line(&format!("stalled {stall}"));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

/// The snapshot's objects as comparable names: users, groups, `user/group` memberships and
/// `user/fingerprint` keys, each listed as often as the tenancy holds it.
fn objects(live: &Live) -> Vec<String> {
    let out = live.ociam(&["snapshot"]);
    assert_eq!(out.code, 0, "snapshot\n{}", out.transcript());
    let snap: Value = serde_json::from_str(&out.stdout).unwrap();
    let name_of = |list: &str, id: &Value| -> String {
        snap[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| &o["id"] == id)
            .map_or("?".to_owned(), |o| o["name"].as_str().unwrap().to_owned())
    };
    let mut all = Vec::new();
    for u in snap["users"].as_array().unwrap() {
        all.push(format!("user {}", u["name"].as_str().unwrap()));
    }
    for g in snap["groups"].as_array().unwrap() {
        all.push(format!("group {}", g["name"].as_str().unwrap()));
    }
    for m in snap["memberships"].as_array().unwrap() {
        all.push(format!(
            "member {}/{}",
            name_of("users", &m["userId"]),
            name_of("groups", &m["groupId"])
        ));
    }
    for (owner, keys) in snap["api_keys"].as_object().unwrap() {
        for k in keys.as_array().unwrap() {
            all.push(format!(
                "key {}/{}",
                name_of("users", &Value::String(owner.clone())),
                k["fingerprint"].as_str().unwrap()
            ));
        }
    }
    all.sort();
    all
}

/// The actions of a saved plan's steps, in order.
fn plan_actions(plan_file: &Path) -> Vec<String> {
    let plan: Value = serde_json::from_str(&fs::read_to_string(plan_file).unwrap()).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap().to_owned())
        .collect()
}

/// After a resume: every outcome follows its intent, none failed, and every intent is finished:
/// by an outcome of its step (`done`, or `settled` once the tenancy matched the manifest), or
/// by a later intent of the same write (action, subject, request) that is.
fn assert_every_intent_finished(text: &str, context: &str) {
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{context}: {e}: {l}")))
        .collect();
    let step = |r: &Value| (r["plan"].clone(), r["seq"].clone());
    let write = |r: &Value| {
        (
            r["action"].clone(),
            r["subject"].clone(),
            r["request"].clone(),
        )
    };
    let closed = |i: usize| {
        records[i + 1..]
            .iter()
            .any(|r| r["type"] == "outcome" && step(r) == step(&records[i]))
    };
    for (i, r) in records.iter().enumerate() {
        match r["type"].as_str() {
            Some("outcome") => {
                assert!(
                    records[..i]
                        .iter()
                        .any(|o| o["type"] == "intent" && step(o) == step(r)),
                    "{context}: outcome without an intent: {r}"
                );
                assert!(
                    r["status"] == "done" || r["status"] == "settled",
                    "{context}: {r}"
                );
            }
            Some("intent") => {
                let finished = closed(i)
                    || records.iter().enumerate().skip(i + 1).any(|(j, later)| {
                        later["type"] == "intent" && write(later) == write(r) && closed(j)
                    });
                assert!(finished, "{context}: an intent never finished: {r}\n{text}");
            }
            _ => panic!("{context}: unknown record {r}"),
        }
    }
}

/// Kill test over every action kind: a manifest whose plan has every action (creates,
/// updates, capabilities, key uploads and deletes, memberships added and removed, a password
/// reset, user and group deletes) is applied with the emulator holding one write, before it
/// is applied or after it is committed, and the apply is SIGKILLed while the write is held;
/// this for every write of the plan, both ways. Applying the manifest again must converge:
/// exit 0, no failed step, the re-plan empty, every object once (one user or group per name,
/// one key per fingerprint, one membership per pair, one password file), and the journal
/// consistent: after the kill every outcome follows its intent and the held write's intent is
/// open; after the resume every intent is finished (re-sent and done, or settled because the
/// write was already in the tenancy); no secret is ever in it. Holds with several steps in
/// flight: it counts writes per action as the emulator receives them, not plan positions.
#[test]
fn every_action_kind_killed_before_or_after_its_write_resumes_and_converges() {
    every_action_kind_killed_and_resumed("m.yaml");
}

/// [`every_action_kind_killed_before_or_after_its_write_resumes_and_converges`] for `file`:
/// the manifest (each resume plans afresh) or its saved plan (each resume applies the same
/// plan, skipping the steps the journal records as done).
fn every_action_kind_killed_and_resumed(file: &str) {
    let base = every_action_base();
    let actions = plan_actions(&base.path().join("plan.json"));
    let kinds: BTreeSet<&str> = actions.iter().map(String::as_str).collect();
    assert_eq!(kinds.len(), 12, "every action kind: {actions:?}");
    // The expected end state, from one uninterrupted apply.
    let expected = {
        let live = every_action_run(&base, &[]);
        let applied = live.apply(file);
        assert_eq!(applied.code, 0, "{}", applied.transcript());
        objects(&live)
    };
    for kind in &kinds {
        let count = actions.iter().filter(|a| a == kind).count();
        for n in 1..=count {
            for when in ["before", "after"] {
                let stall = format!("{kind}:{n}:{when}");
                let context = format!("stall {stall}");
                let live = every_action_run(&base, &["--latency", "2", "--stall", &stall]);
                let killed = apply_killed_at_stall(&live, file, &format!("{kind} #{n} {when}"));
                let after_kill = journal_text(&live);
                let open = open_intents(&after_kill, &context);
                assert!(
                    open.iter().any(|o| o.1 == **kind),
                    "{context}: the held write's intent is open: {open:?}\n{killed}"
                );

                let resumed = live.apply(file);
                assert_eq!(resumed.code, 0, "{context}\n{}", resumed.transcript());
                assert!(
                    resumed.stdout.contains(MATCHES) || resumed.stdout.contains("No changes."),
                    "{context}\n{}",
                    resumed.transcript()
                );
                assert!(
                    !resumed.stderr.contains("FAILED"),
                    "{context}\n{}",
                    resumed.transcript()
                );
                let replan = live.ociam(&["plan", "m.yaml", "--detailed-exitcode"]);
                assert_eq!(replan.code, 0, "{context}\n{}", replan.transcript());
                assert_eq!(objects(&live), expected, "{context}: every object once");
                let delivered: Vec<_> = fs::read_dir(&live.secrets).unwrap().collect();
                assert_eq!(delivered.len(), 1, "{context}: one password file");
                let password = fs::read_to_string(delivered[0].as_ref().unwrap().path()).unwrap();
                let after_resume = journal_text(&live);
                for text in [&after_kill, &after_resume] {
                    assert!(
                        !text.contains(password.trim()),
                        "{context}: the journal holds no password"
                    );
                }
                assert_every_intent_finished(&after_resume, &context);
            }
        }
    }
}

/// An object changed out of band *during* an apply, between the apply's read-back of it and
/// its write, is refused at its step by `if-match` ("moved since the plan", exit 1), and
/// nothing else is rolled back or lost: with `--keep-going` every other step is done and the
/// out-of-band change stays; a later apply of the same manifest then finishes the job. The
/// emulator holds the apply's user update (`--stall update_user:1:before`, after apply read
/// the user back and took its ETag) while another client changes that user.
#[test]
fn an_object_changed_during_an_apply_is_refused_at_its_step_and_nothing_else_is_lost() {
    let mut base = Live::start(&[]);
    base.key("newbie");
    base.step(
        "base.yaml",
        "groups:
  - name: crew
    description: old
users:
  - name: victim
    description: old
  - name: other
",
    );
    let victim = base.user_id("victim");
    base.manifest(
        "m.yaml",
        "groups:
  - name: crew
    description: new
  - name: fresh
users:
  - name: victim
    description: new
  - name: other
    groups: [crew, fresh]
  - name: newbie
    groups: [fresh]
    api_keys:
      - file: keys/newbie.pem
",
    );
    base.emu.stop();
    let mut live = every_action_run(&base, &["--stall", "update_user:1:before"]);

    use std::io::Read as _;
    let config = live.emu.config_file().display().to_string();
    let secrets = live.secrets.display().to_string();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ociam"))
        .current_dir(live.path())
        .args(["apply", "m.yaml", "--auto-approve", "--keep-going"])
        .args(["--secrets-dir", &secrets])
        .args(["--config-file", &config, "--endpoint", &live.emu.url])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let held = live.emu.wait_for_line("stalled update_user #1 before");
    assert!(
        held.contains(victim.as_str()),
        "the victim's update is held: {held}"
    );
    let details = wire::UpdateUserDetails {
        description: Some("changed by someone else".into()),
        ..Default::default()
    };
    block_on(live.client().update_user(&victim, &details, None)).unwrap();
    live.emu.release();
    let status = child.wait().unwrap();
    let applied = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert_eq!(applied.code, 1, "{}", applied.transcript());
    let refused = applied
        .stderr
        .lines()
        .find(|l| l.contains("update_user user.victim: FAILED"))
        .unwrap_or_else(|| panic!("the step is refused\n{}", applied.transcript()));
    assert!(
        refused.contains("moved since the plan") && refused.contains("user.victim"),
        "{refused}"
    );
    for other in [
        "update_group group.crew: done",
        "create_group group.fresh: done",
        "create_user user.newbie: done",
        "add_to_group membership.crew/other: done",
        "add_to_group membership.fresh/other: done",
        "add_to_group membership.fresh/newbie: done",
        "upload_api_key api_key.newbie/",
    ] {
        assert!(
            applied
                .stderr
                .lines()
                .any(|l| l.contains(other) && l.ends_with("done")),
            "`{other}` is done\n{}",
            applied.transcript()
        );
    }
    let state = live.state();
    assert_eq!(
        state.users[&user("victim")].description,
        "changed by someone else",
        "the out-of-band change stays"
    );
    assert_eq!(state.groups[&GroupName::new("crew")].description, "new");
    assert!(member(&state, "other", "crew") && member(&state, "other", "fresh"));
    assert!(member(&state, "newbie", "fresh"));
    assert_eq!(keys_of(&state, "newbie").len(), 1);
    // Nothing was rolled back: the next apply has only the refused step left.
    let replan = live.ociam(&["plan", "m.yaml"]);
    assert!(
        replan
            .stdout
            .contains("Plan: 0 to create, 1 to update, 0 to delete."),
        "{}",
        replan.transcript()
    );
    let again = live.apply("m.yaml");
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(again.stdout.contains(MATCHES), "{}", again.transcript());
}

/// The every-action kill test resumed by applying the same saved plan.
#[test]
fn every_action_kind_killed_in_a_saved_plan_resumes_and_converges() {
    every_action_kind_killed_and_resumed("plan.json");
}
