from tinygrad_edu.cli import main

raise SystemExit(main())
