package io.bighorn.backup;

/**
 * What a restore did.
 *
 * @param incrementalFrom the backup the volume held before, for an incremental restore; null for a full one
 * @param blocksWritten blocks downloaded, verified and written
 * @param blocksZeroed blocks an incremental restore dropped (zeroed)
 * @param bytesDownloaded stored (compressed) bytes read from the target
 */
public record RestoreResult(
        BackupConfig backup,
        String incrementalFrom,
        long blocksWritten,
        long blocksZeroed,
        long bytesDownloaded,
        long bytesWritten,
        long millis) {}
