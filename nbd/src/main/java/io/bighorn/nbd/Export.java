package io.bighorn.nbd;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.util.Objects;

/**
 * A volume the server offers under a name. The server reads {@link BlockDevice#size()} at each client's
 * handshake, so a device that grows shows its new size to clients that connect afterwards.
 *
 * @param name the export name clients ask for (NBD_OPT_GO / NBD_OPT_EXPORT_NAME); may be empty (the default)
 * @param description free text shown by {@code nbdinfo} and NBD_OPT_LIST
 * @param device the volume; the server never closes it
 */
public record Export(String name, String description, BlockDevice device) {
    public Export {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(device, "device");
    }
}
