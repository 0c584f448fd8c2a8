"""SutazAI: load the stack config and the catalog, compose the platform, export."""

import pulumi

from stacks.catalog import load_catalog
from stacks.composition import SutazAI
from stacks.config import load_stack_config

config = load_stack_config()
platform = SutazAI(f"sutazai-{pulumi.get_stack()}", config=config, catalog=load_catalog())

for key, value in platform.outputs.items():
    pulumi.export(key, value)
