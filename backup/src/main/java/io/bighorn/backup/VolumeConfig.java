package io.bighorn.backup;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.Map;

/**
 * A backup volume's {@code volume.cfg}: Longhorn's {@code Volume}, field for field and in its byte layout
 * (sizes and counts as JSON strings; the later text fields encoded twice).
 *
 * @param lastBackupName the newest complete backup, the base of the next incremental one; "" if none
 * @param lastBackupAt the snapshot time of that backup
 * @param blockCount the blocks stored for this volume
 * @param compressionMethod fixed by the volume's first backup; "" means gzip (Longhorn's oldest backups)
 */
public record VolumeConfig(
        String name,
        long size,
        Map<String, String> labels,
        String createdTime,
        String lastBackupName,
        String lastBackupAt,
        long blockCount,
        String backingImageName,
        String backingImageChecksum,
        String compressionMethod,
        String storageClassName,
        String dataEngine) {
    public VolumeConfig {
        labels = Map.copyOf(labels);
    }

    byte[] toJson() {
        return new GoJson()
                .string("Name", name)
                .longString("Size", size)
                .map("Labels", labels)
                .string("CreatedTime", createdTime)
                .string("LastBackupName", lastBackupName)
                .string("LastBackupAt", lastBackupAt)
                .longString("BlockCount", blockCount)
                .stringTwice("BackingImageName", backingImageName)
                .stringTwice("BackingImageChecksum", backingImageChecksum)
                .stringTwice("CompressionMethod", compressionMethod)
                .stringTwice("StorageClassName", storageClassName)
                .stringTwice("DataEngine", dataEngine)
                .bytes();
    }

    static VolumeConfig parse(byte[] json, String what) throws IOException {
        JsonNode o = GoJson.parse(json, what);
        String name = GoJson.text(o, "Name");
        if (!Layout.validName(name)) {
            throw new IOException(what + " has an invalid volume name '" + name + "'");
        }
        return new VolumeConfig(
                name,
                GoJson.longValue(o, "Size", what),
                GoJson.stringMap(o, "Labels"),
                GoJson.text(o, "CreatedTime"),
                GoJson.text(o, "LastBackupName"),
                GoJson.text(o, "LastBackupAt"),
                GoJson.longValue(o, "BlockCount", what),
                GoJson.textTwice(o, "BackingImageName"),
                GoJson.textTwice(o, "BackingImageChecksum"),
                GoJson.textTwice(o, "CompressionMethod"),
                GoJson.textTwice(o, "StorageClassName"),
                GoJson.textTwice(o, "DataEngine"));
    }

    Compression compression() {
        return Compression.of(compressionMethod);
    }

    VolumeConfig withLastBackup(String backup, String at, long blocks, long newSize) {
        return new VolumeConfig(
                name,
                newSize,
                labels,
                createdTime,
                backup,
                at,
                blocks,
                backingImageName,
                backingImageChecksum,
                compressionMethod,
                storageClassName,
                dataEngine);
    }
}
