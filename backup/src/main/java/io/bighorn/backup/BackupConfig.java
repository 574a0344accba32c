package io.bighorn.backup;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One backup's {@code backup_<name>.cfg}: Longhorn's {@code Backup}, in its field order and byte layout.
 * {@link #blocks} maps every stored block of the volume image, by offset, sorted: a restore needs this one
 * file and no other backup. A cfg whose {@link #createdTime} is empty is a placeholder written when the
 * backup started: in progress, or crashed; never restorable.
 *
 * @param size the image's size: block count × block size
 * @param newlyUploadedDataSize compressed bytes this backup uploaded
 * @param reUploadedDataSize compressed bytes it uploaded over existing blocks (full mode)
 */
public record BackupConfig(
        String name,
        String volumeName,
        String snapshotName,
        String snapshotCreatedAt,
        String createdTime,
        long size,
        Map<String, String> labels,
        Map<String, String> parameters,
        boolean isIncremental,
        String compressionMethod,
        long newlyUploadedDataSize,
        long reUploadedDataSize,
        List<BlockMapping> blocks) {
    public static final String MODE = "backup-mode";
    public static final String BLOCK_SIZE = "backup-block-size";

    public BackupConfig {
        labels = Map.copyOf(labels);
        parameters = Map.copyOf(parameters);
        blocks = List.copyOf(blocks);
    }

    /** One stored block: its offset in the volume and the checksum that names it. */
    public record BlockMapping(long offset, String checksum) {}

    public boolean complete() {
        return !createdTime.isEmpty();
    }

    /** The block size, from the {@value #BLOCK_SIZE} parameter (a quantity such as 2Mi or 16Mi); 2 MiB if absent. */
    public int blockSize() {
        String q = parameters.get(BLOCK_SIZE);
        if (q == null || q.isEmpty()) {
            return BackupOptions.DEFAULT_BLOCK_SIZE;
        }
        return BackupOptions.parseBlockSize(q);
    }

    byte[] toJson() {
        StringBuilder list = new StringBuilder(blocks.size() * 100 + 2).append('[');
        for (int i = 0; i < blocks.size(); i++) {
            BlockMapping b = blocks.get(i);
            if (i > 0) {
                list.append(',');
            }
            list.append("{\"Offset\":")
                    .append(b.offset())
                    .append(",\"BlockChecksum\":\"")
                    .append(b.checksum())
                    .append("\"}");
        }
        list.append(']');
        GoJson j = new GoJson()
                .string("Name", name)
                .string("VolumeName", volumeName)
                .string("SnapshotName", snapshotName)
                .string("SnapshotCreatedAt", snapshotCreatedAt)
                .string("CreatedTime", createdTime)
                .longString("Size", size)
                .map("Labels", labels);
        if (!parameters.isEmpty()) {
            j.map("Parameters", parameters);
        }
        j.bool("IsIncremental", isIncremental);
        if (!compressionMethod.isEmpty()) {
            j.string("CompressionMethod", compressionMethod);
        }
        j.longString("NewlyUploadedDataSize", newlyUploadedDataSize)
                .longString("ReUploadedDataSize", reUploadedDataSize)
                .nul("ProcessingBlocks");
        if (!blocks.isEmpty()) {
            j.raw("Blocks", list);
        }
        return j.raw("SingleFile", "{\"FilePath\":\"\"}").bytes();
    }

    static BackupConfig parse(byte[] json, String what) throws IOException {
        JsonNode o = GoJson.parse(json, what);
        List<BlockMapping> blocks = new ArrayList<>();
        JsonNode list = o.get("Blocks");
        if (list != null && !list.isNull()) {
            if (!list.isArray()) {
                throw new IOException(what + ": Blocks is not a list");
            }
            long last = -1;
            for (JsonNode b : list) {
                long offset = GoJson.longValue(b, "Offset", what);
                String checksum = GoJson.text(b, "BlockChecksum");
                if (offset < 0 || !Layout.validChecksum(checksum)) {
                    throw new IOException(what + ": bad block entry " + b);
                }
                if (offset <= last) {
                    throw new IOException(what + ": block offsets are not sorted at " + offset);
                }
                last = offset;
                blocks.add(new BlockMapping(offset, checksum));
            }
        }
        BackupConfig c = new BackupConfig(
                GoJson.text(o, "Name"),
                GoJson.text(o, "VolumeName"),
                GoJson.text(o, "SnapshotName"),
                GoJson.text(o, "SnapshotCreatedAt"),
                GoJson.text(o, "CreatedTime"),
                GoJson.longValue(o, "Size", what),
                GoJson.stringMap(o, "Labels"),
                GoJson.stringMap(o, "Parameters"),
                o.path("IsIncremental").asBoolean(false),
                GoJson.text(o, "CompressionMethod"),
                GoJson.longValue(o, "NewlyUploadedDataSize", what),
                GoJson.longValue(o, "ReUploadedDataSize", what),
                blocks);
        if (!Layout.validName(c.name()) || !Layout.validName(c.volumeName())) {
            throw new IOException(what + " names no valid backup or volume");
        }
        try {
            int bs = c.blockSize();
            for (BlockMapping b : blocks) {
                if (b.offset() % bs != 0) {
                    throw new IOException(what + ": block offset " + b.offset() + " is not a multiple of " + bs);
                }
            }
        } catch (IllegalArgumentException e) {
            throw new IOException(what + ": " + e.getMessage(), e);
        }
        return c;
    }

    BackupConfig completed(String created, long newBytes, long reBytes, List<BlockMapping> all, long size) {
        return new BackupConfig(
                name,
                volumeName,
                snapshotName,
                snapshotCreatedAt,
                created,
                size,
                labels,
                parameters,
                isIncremental,
                compressionMethod,
                newBytes,
                reBytes,
                all);
    }
}
