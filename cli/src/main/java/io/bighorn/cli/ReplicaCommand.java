package io.bighorn.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code bighorn replica ...}: commands that work on one replica. Leaf commands go in {@code subcommands};
 * {@code --help} and {@code --version} are inherited from {@link Main}.
 */
@Command(
        name = "replica",
        description = "Work with replicas.",
        subcommands = {ReplicaInspectCommand.class})
final class ReplicaCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing required subcommand");
    }
}
