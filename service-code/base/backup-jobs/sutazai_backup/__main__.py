from sutazai_backup.cli import main

raise SystemExit(main())
