package io.bighorn.manager.model;

/**
 * A volume the backup target holds backups of, named after it, as the last listing of the target found
 * it. Deleting one deletes every backup of it from the target.
 *
 * @param status what the target says about it
 */
public record BackupVolume(Meta meta, Status status) implements Resource<BackupVolume> {

    /**
     * @param target the URL of the target it was found in
     * @param size the volume's size at its last backup
     * @param backups how many backups of it the target holds
     */
    public record Status(String target, long size, String lastBackupName, String lastBackupAt, int backups) {}

    @Override
    public BackupVolume withMeta(Meta m) {
        return new BackupVolume(m, status);
    }
}
