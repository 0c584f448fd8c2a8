"""SutazAI: load the stack config and the catalog, compose the platform, export."""

import pulumi

from stacks.catalog import load_catalog
from stacks.composition import SutazAI
from stacks.config import load_stack_config

# The config is checked against the catalog before anything registers.
catalog = load_catalog()
config = load_stack_config(catalog)
platform = SutazAI(f"sutazai-{pulumi.get_stack()}", config=config, catalog=catalog)

for key, value in platform.outputs.items():
    pulumi.export(key, value)
