"""Entry point the Pulumi CLI runs (`python -m pulumi.policy <engine> .` in this folder).

Only builds the pack: the rules live in `sutazai_policies`, which tests import directly,
because `PolicyPack(...)` starts the gRPC server and never returns.
"""

from pulumi_policy import PolicyPack
from sutazai_policies import pack_arguments

PolicyPack(**pack_arguments())
