from pol.cli.main import main

raise SystemExit(main())
