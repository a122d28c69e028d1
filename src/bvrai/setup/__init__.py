"""What the CLI does before (or instead of) serving: migrations, the demo seed, admin tasks."""
