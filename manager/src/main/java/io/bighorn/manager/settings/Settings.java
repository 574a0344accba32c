package io.bighorn.manager.settings;

import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Setting;
import io.bighorn.manager.store.Store;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The settings Bighorn knows, with Longhorn's names and defaults, and typed reads of their current values
 * from the store (a setting never set reads as its default).
 */
public final class Settings {
    public static final String DEFAULT_REPLICA_COUNT = "default-replica-count";
    public static final String OVER_PROVISIONING = "storage-over-provisioning-percentage";
    public static final String MINIMAL_AVAILABLE = "storage-minimal-available-percentage";
    public static final String RESERVED_DEFAULT_DISK = "storage-reserved-percentage-for-default-disk";
    public static final String REPLICA_SOFT_ANTI_AFFINITY = "replica-soft-anti-affinity";
    public static final String ZONE_SOFT_ANTI_AFFINITY = "replica-zone-soft-anti-affinity";
    public static final String DISK_SOFT_ANTI_AFFINITY = "replica-disk-soft-anti-affinity";
    public static final String DEFAULT_DATA_LOCALITY = "default-data-locality";
    public static final String AUTO_SALVAGE = "auto-salvage";
    public static final String ENGINE_REPLICA_TIMEOUT = "engine-replica-timeout";
    public static final String REPLENISHMENT_WAIT = "replica-replenishment-wait-interval";
    public static final String REBUILD_LIMIT = "concurrent-replica-rebuild-per-node-limit";
    public static final String BACKUP_TARGET = "backup-target";
    public static final String BACKUP_COMPRESSION = "backup-compression-method";
    public static final String NODE_DOWN_TIMEOUT = "node-down-timeout";
    public static final String BACKUPSTORE_POLL_INTERVAL = "backupstore-poll-interval";

    private static final Map<String, SettingDefinition> DEFINITIONS = new LinkedHashMap<>();

    static {
        define(DEFAULT_REPLICA_COUNT, "general", "Replicas of a volume created without a replica count.", 3, 1, 20);
        define(
                OVER_PROVISIONING,
                "scheduling",
                "How much a disk may be promised, in percent of its size less its reserve: a new replica is"
                        + " placed only if size + scheduled <= (maximum - reserved) x this / 100.",
                100,
                0,
                10_000);
        define(
                MINIMAL_AVAILABLE,
                "scheduling",
                "A disk takes no new replica once less than this percentage of it would stay free.",
                25,
                0,
                100);
        define(
                RESERVED_DEFAULT_DISK,
                "scheduling",
                "Percentage of the default disk kept for other uses, applied when the disk is first seen.",
                30,
                0,
                100);
        bool(
                REPLICA_SOFT_ANTI_AFFINITY,
                "scheduling",
                "Allow two replicas of a volume on one node when no other node can take one.",
                false);
        bool(
                ZONE_SOFT_ANTI_AFFINITY,
                "scheduling",
                "Allow two replicas of a volume in one zone when no other zone can take one.",
                true);
        bool(
                DISK_SOFT_ANTI_AFFINITY,
                "scheduling",
                "Allow two replicas of a volume on one disk when no other disk of the node can take one.",
                true);
        DEFINITIONS.put(
                DEFAULT_DATA_LOCALITY,
                new SettingDefinition(
                        DEFAULT_DATA_LOCALITY,
                        "general",
                        "Data locality of volumes created without one: disabled, or best-effort (keep a replica"
                                + " on the node the volume is attached to when possible).",
                        SettingDefinition.Type.ENUM,
                        "disabled",
                        List.of("disabled", "best-effort"),
                        0,
                        0));
        bool(
                AUTO_SALVAGE,
                "general",
                "When every replica of a volume has failed, bring the volume back from the replicas holding"
                        + " every acknowledged write.",
                true);
        define(
                ENGINE_REPLICA_TIMEOUT,
                "general",
                "Seconds an engine waits for a replica to answer before marking it failed.",
                8,
                8,
                30);
        define(
                REPLENISHMENT_WAIT,
                "general",
                "Seconds a degraded volume waits for a failed replica to come back before a new replica is"
                        + " built elsewhere.",
                600,
                0,
                Integer.MAX_VALUE);
        define(
                REBUILD_LIMIT,
                "general",
                "Rebuilds a node may run at once, as source or target (0: no limit).",
                5,
                0,
                10_000);
        DEFINITIONS.put(
                BACKUP_TARGET,
                new SettingDefinition(
                        BACKUP_TARGET,
                        "backup",
                        "Where backups go: file:///path or s3://bucket@region/path; empty for none.",
                        SettingDefinition.Type.STRING,
                        "",
                        List.of(),
                        0,
                        0));
        DEFINITIONS.put(
                BACKUP_COMPRESSION,
                new SettingDefinition(
                        BACKUP_COMPRESSION,
                        "backup",
                        "Compression of backup blocks.",
                        SettingDefinition.Type.ENUM,
                        "lz4",
                        List.of("none", "lz4", "gzip"),
                        0,
                        0));
        define(
                BACKUPSTORE_POLL_INTERVAL,
                "backup",
                "Seconds between listings of the backup target, which keep the backup volumes and the backups"
                        + " found there up to date (0: only when asked, and after each backup).",
                300,
                0,
                Integer.MAX_VALUE);
        define(
                NODE_DOWN_TIMEOUT,
                "general",
                "Seconds without a heartbeat from a node's agent before the node is marked down and its"
                        + " replicas failed (Bighorn's own; Longhorn takes this from Kubernetes).",
                30,
                2,
                3600);
    }

    private static void define(String name, String category, String description, long def, long min, long max) {
        DEFINITIONS.put(
                name,
                new SettingDefinition(
                        name,
                        category,
                        description,
                        SettingDefinition.Type.INT,
                        Long.toString(def),
                        List.of(),
                        min,
                        max));
    }

    private static void bool(String name, String category, String description, boolean def) {
        DEFINITIONS.put(
                name,
                new SettingDefinition(
                        name,
                        category,
                        description,
                        SettingDefinition.Type.BOOL,
                        Boolean.toString(def),
                        List.of("true", "false"),
                        0,
                        0));
    }

    private final Store store;

    public Settings(Store store) {
        this.store = store;
    }

    public static List<SettingDefinition> definitions() {
        return List.copyOf(DEFINITIONS.values());
    }

    public static Optional<SettingDefinition> definition(String name) {
        return Optional.ofNullable(DEFINITIONS.get(name));
    }

    /** The current value of a known setting (its default when never set). */
    public String value(String name) {
        SettingDefinition d = DEFINITIONS.get(name);
        if (d == null) {
            throw new IllegalArgumentException("unknown setting '" + name + "'");
        }
        return store.get(Kind.SETTING, name).map(Setting::value).orElse(d.defaultValue());
    }

    public long number(String name) {
        return Long.parseLong(value(name));
    }

    public boolean flag(String name) {
        return Boolean.parseBoolean(value(name));
    }

    public Duration seconds(String name) {
        return Duration.ofSeconds(number(name));
    }

    /**
     * Validates and stores a value.
     *
     * @throws IllegalArgumentException for an unknown setting or a bad value; nothing is stored then
     */
    public Setting set(String name, String value) {
        SettingDefinition d = definition(name)
                .orElseThrow(() -> new IllegalArgumentException(
                        "unknown setting '" + name + "': see GET /v1/settings for the known ones"));
        String v = d.validate(value);
        Optional<Setting> current = store.get(Kind.SETTING, name);
        if (current.isPresent()) {
            return store.update(Kind.SETTING, new Setting(current.get().meta(), v));
        }
        return store.create(Kind.SETTING, new Setting(Meta.named(name), v));
    }
}
