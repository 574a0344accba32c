package io.bighorn.manager.model;

/** The kinds of stored objects, each with its record type; a closed set. */
public record Kind<R extends Resource<R>>(String name, Class<R> type) {
    public static final Kind<Volume> VOLUME = new Kind<>("Volume", Volume.class);
    public static final Kind<Replica> REPLICA = new Kind<>("Replica", Replica.class);
    public static final Kind<Engine> ENGINE = new Kind<>("Engine", Engine.class);
    public static final Kind<Node> NODE = new Kind<>("Node", Node.class);
    public static final Kind<Setting> SETTING = new Kind<>("Setting", Setting.class);
    public static final Kind<Backup> BACKUP = new Kind<>("Backup", Backup.class);
    public static final Kind<Snapshot> SNAPSHOT = new Kind<>("Snapshot", Snapshot.class);
    public static final Kind<BackupTarget> BACKUP_TARGET = new Kind<>("BackupTarget", BackupTarget.class);
    public static final Kind<BackupVolume> BACKUP_VOLUME = new Kind<>("BackupVolume", BackupVolume.class);

    public static final java.util.List<Kind<?>> ALL =
            java.util.List.of(VOLUME, REPLICA, ENGINE, NODE, SETTING, BACKUP, SNAPSHOT, BACKUP_TARGET, BACKUP_VOLUME);

    @Override
    public String toString() {
        return name;
    }
}
