package io.bighorn.backup;

/**
 * What a backup did.
 *
 * @param url the new backup's URL
 * @param incremental whether it built on the volume's last backup ({@code base})
 * @param blocksScanned blocks of the volume looked at
 * @param blocksChanged blocks read because they changed (all written blocks for a full backup)
 * @param blocksUploaded blocks written to the target (the others were there already)
 * @param bytesRead uncompressed bytes read from the snapshot
 * @param bytesUploaded compressed bytes written to the target
 */
public record BackupResult(
        String url,
        BackupConfig config,
        boolean incremental,
        String base,
        long blocksScanned,
        long blocksChanged,
        long blocksUploaded,
        long bytesRead,
        long bytesUploaded,
        long millis) {}
