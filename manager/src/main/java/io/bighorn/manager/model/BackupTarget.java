package io.bighorn.manager.model;

import java.time.Instant;

/**
 * Where backups go (one, named {@code default}): its URL comes from the backup-target setting, and the
 * manager lists it through a node's agent every poll interval, or at once after a sync is asked for, to
 * keep the BackupVolume objects and the Backup objects of backups found there up to date.
 *
 * @param spec the target's URL and how often it is listed
 * @param status whether the last listing worked, why not, and when it ran
 */
public record BackupTarget(Meta meta, Spec spec, Status status) implements Resource<BackupTarget> {
    public static final String DEFAULT = "default";

    /**
     * @param syncRequestedAt a listing is due when this is later than the last one
     */
    public record Spec(String url, long pollIntervalSeconds, Instant syncRequestedAt) {}

    /**
     * @param syncedUrl the URL the last listing read
     */
    public record Status(boolean available, String message, Instant lastSyncedAt, String syncedUrl) {
        public static Status unknown() {
            return new Status(false, "not listed yet", null, "");
        }
    }

    @Override
    public BackupTarget withMeta(Meta m) {
        return new BackupTarget(m, spec, status);
    }

    public BackupTarget withSpec(Spec s) {
        return new BackupTarget(meta, s, status);
    }

    public BackupTarget withStatus(Status s) {
        return new BackupTarget(meta, spec, s);
    }
}
