package io.bighorn.dataplane.wire;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** JSON payloads of control messages: the replica's records, with times as ISO-8601 text. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .registerModule(new SimpleModule("bighorn-wire")
                    .addSerializer(Instant.class, new JsonSerializer<>() {
                        @Override
                        public void serialize(Instant value, JsonGenerator gen, SerializerProvider provider)
                                throws IOException {
                            gen.writeString(value.toString());
                        }
                    })
                    .addDeserializer(Instant.class, new JsonDeserializer<>() {
                        @Override
                        public Instant deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
                            return Instant.parse(p.getValueAsString());
                        }
                    }));

    private Json() {}

    /** The SNAPSHOT request's payload. */
    record SnapshotRequest(String name, boolean userCreated, Map<String, String> labels, Instant created) {}

    /** The request payload of DELETE_SNAPSHOT and REVERT. */
    record Name(String name) {}

    /** A rebuild target's new tree: the source's snapshots and the snapshot its head sits on. */
    record RebuildRequest(List<SnapshotInfo> snapshots, String headParent) {}

    /** A snapshot layer and, for a read, the blocks wanted (a {@link java.util.BitSet}'s words). */
    @SuppressWarnings("ArrayRecordComponent") // a message, never compared
    record LayerRequest(String name, long[] wanted) {}

    /** A rebuild target's order to fetch {@code wanted} blocks of snapshot {@code name} from {@code source}. */
    @SuppressWarnings("ArrayRecordComponent") // a message, never compared
    record PullRequest(String source, String name, long[] wanted) {}

    static byte[] write(Object value) throws IOException {
        return MAPPER.writeValueAsBytes(value);
    }

    static <T> T read(byte[] bytes, Class<T> type) throws IOException {
        return MAPPER.readValue(bytes, type);
    }

    static <T> T read(byte[] bytes, TypeReference<T> type) throws IOException {
        return MAPPER.readValue(bytes, type);
    }
}
