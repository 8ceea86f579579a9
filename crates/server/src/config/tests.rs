//! The configuration's layers, and the messages that name a bad key.

#![allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error

use super::*;

// figment::Jail sets environment variables for one closure, serialised across tests.
#[test]
fn layers_and_errors() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("y.toml", "issuer = \"https://id.example.uz\"\n[http]\nlisten = \"0.0.0.0:9000\"\n")?;
        jail.set_env("YAGONA_DATABASE__POOL_SIZE", "3");
        let s = Config::load(Some(Path::new("y.toml"))).unwrap().validate().unwrap();
        assert_eq!(s.issuer, "https://id.example.uz");
        assert!(s.issuer_is_https);
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.pool_size, 3);

        jail.set_env("YAGONA_HTTP__LISTNE", "x");
        let err = Config::load(None).unwrap_err();
        assert!(err.contains("listne"), "{err}");
        Ok(())
    });
    figment::Jail::expect_with(|jail| {
        jail.set_env("YAGONA_DATABASE__POOL_SIZE", "many");
        let err = Config::load(None).unwrap_err();
        assert!(err.contains("database.pool_size"), "{err}");
        jail.set_env("YAGONA_DATABASE__POOL_SIZE", "2");
        jail.set_env("YAGONA_HTTP__LISTEN", "nonsense");
        let err = Config::load(None).unwrap().validate().unwrap_err();
        assert!(err.contains("http.listen"), "{err}");
        jail.set_env("YAGONA_HTTP__LISTEN", "127.0.0.1:9000");
        jail.set_env("YAGONA_PURGE__INTERVAL", "5");
        let err = Config::load(None).unwrap().validate().unwrap_err();
        assert!(err.contains("purge.interval"), "{err}");
        jail.set_env("YAGONA_PURGE__INTERVAL", "0");
        assert_eq!(Config::load(None).unwrap().validate().unwrap().purge_interval, None, "never");
        jail.set_env("YAGONA_PURGE__INTERVAL", "120");
        let s = Config::load(None).unwrap().validate().unwrap();
        assert_eq!(s.purge_interval, Some(std::time::Duration::from_secs(120)));
        Ok(())
    });
}

#[test]
fn secrets_from_files() {
    figment::Jail::expect_with(|jail| {
        let kek = KeyEncryptionKey::generate();
        jail.create_file("kek", &format!("{}\n", kek.to_base64()))?;
        jail.set_env("YAGONA_KEYS__ENCRYPTION_KEY_FILE", "kek");
        let s = Config::load(None).unwrap().validate().unwrap();
        assert_eq!(s.encryption_key.unwrap().id(), kek.id());
        jail.set_env("YAGONA_KEYS__ENCRYPTION_KEY", kek.to_base64());
        let err = Config::load(None).unwrap().validate().unwrap_err();
        assert!(err.contains("not both"), "{err}");
        Ok(())
    });
}

#[test]
fn defaults_match_default_toml() {
    // Inside a Jail: the other tests set YAGONA_* variables, and the Jail serialises them.
    figment::Jail::expect_with(|_| {
        let from_file =
            Config::load(Some(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/default.toml")))).unwrap();
        assert_eq!(serde_json::to_value(&from_file).unwrap(), serde_json::to_value(Config::default()).unwrap());
        Ok(())
    });
}
