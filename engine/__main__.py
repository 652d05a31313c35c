from pol.cli import main

raise SystemExit(main())
